"""The calls to the queue an SQS invocation came from, and to its dead-letter queue: the queue's retention, hiding
reported records for a while (ChangeMessageVisibilityBatch), and moving crash-looping records on (SendMessageBatch).

Each call is bounded by the time left and never raises: a failure is logged (aws.describe: never a body) and
answered as not done, which leaves the record where it was (SQS delivers it again after the queue's own visibility
timeout). boto3 is imported on the first call only: an invocation that reports nothing makes none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from . import aws, codec
from .deadletter import sqs_batches
from .log import logger
from .sqs_schedule import UNREAD, QueueFacts

TimeLeft = Callable[[], float]
_ATTRIBUTES = ("MessageRetentionPeriod", "VisibilityTimeout")  # QueueFacts' numbers, in order
_REDRIVE = "RedrivePolicy"  # its dead-letter queue: where a crash loop of the queue may be moved (crash_loops.py)
BATCH_ENTRIES = 10  # SQS's most entries per batch call
WORKERS = 8  # batch calls at once: a thousand reported records are a hundred calls, within the margin


class SourceQueue(Protocol):
    def attributes(self, queue_url: str, time_left: TimeLeft) -> QueueFacts | None:
        """The queue's MessageRetentionPeriod, VisibilityTimeout and dead-letter queue, or None when they cannot be
        read."""
        ...

    def change_visibility(self, queue_url: str, entries: list[tuple[str, int]], time_left: TimeLeft) -> list[bool]:
        """For each (receipt handle, seconds): whether the message is now hidden that long."""
        ...

    def send(self, queue_url: str, bodies: list[str], time_left: TimeLeft) -> list[bool]:
        """For each body: whether the queue took it."""
        ...


class SqsSourceQueue:
    def __init__(self, sqs_client: Any = None) -> None:
        self._client = sqs_client

    def attributes(self, queue_url: str, time_left: TimeLeft) -> QueueFacts | None:
        try:
            sqs = self._sqs()
            answer = aws.call_within(
                time_left(),
                lambda: sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[*_ATTRIBUTES, _REDRIVE]),
            )
            attributes = answer["Attributes"]
            retention, visibility = (int(attributes[name]) for name in _ATTRIBUTES)
            return QueueFacts(retention, visibility, _dead_letter(attributes.get(_REDRIVE)))
        except Exception as exc:
            logger.warning("cannot read the source queue's retention", extra={"error": aws.describe(exc)})
            return None

    def change_visibility(self, queue_url: str, entries: list[tuple[str, int]], time_left: TimeLeft) -> list[bool]:
        def call(sqs: Any, batch: list[dict[str, Any]]) -> Any:
            return sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=batch)

        fields = [{"ReceiptHandle": handle, "VisibilityTimeout": seconds} for handle, seconds in entries]
        return self._batched("ChangeMessageVisibilityBatch", call, fields, _chunks(len(fields)), time_left)

    def send(self, queue_url: str, bodies: list[str], time_left: TimeLeft) -> list[bool]:
        def call(sqs: Any, batch: list[dict[str, Any]]) -> Any:
            return sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)

        chunks = sqs_batches([len(body.encode("utf-8", "surrogatepass")) for body in bodies])
        return self._batched("SendMessageBatch", call, [{"MessageBody": body} for body in bodies], chunks, time_left)

    def _batched(
        self,
        operation: str,
        call: Callable[[Any, list[dict[str, Any]]], Any],
        fields: list[dict[str, Any]],
        chunks: list[list[int]],
        time_left: TimeLeft,
    ) -> list[bool]:
        """Each entry's success: the entries (`fields` with an Id, their index) in batches of the indices in
        `chunks`, sent up to WORKERS at once."""
        count = len(fields)
        done = [False] * count
        try:
            sqs = self._sqs()
        except Exception as exc:  # no region, no botocore: nothing is done
            logger.warning("cannot call SQS", extra={"operation": operation, "error": aws.describe(exc)})
            return done
        batches = [[{"Id": str(i), **fields[i]} for i in chunk] for chunk in chunks]
        calls = [partial(call, sqs, batch) for batch in batches]
        refused: dict[str, int] = {}
        errors: list[dict[str, Any]] = []
        for outcome in aws.call_each_within(time_left(), calls, WORKERS):
            if outcome is None:
                errors.append({"type": "CallTimeout", "code": None, "detail": "no answer within the time left"})
                continue
            ok, answer = outcome
            if not ok:
                errors.append(aws.describe(answer))
                continue
            for success in answer.get("Successful", []):
                done[int(success["Id"])] = True
            for failed in answer.get("Failed", []):
                code = str(failed.get("Code"))
                refused[code] = refused.get(code, 0) + 1
        if errors or refused:
            logger.warning(
                "SQS did not do every entry",
                extra={
                    "operation": operation,
                    "entries": count,
                    "not_done": done.count(False),
                    "refused_by_code": refused,
                    "errors": errors[:3],
                },
            )
        return done

    def _sqs(self) -> Any:
        if self._client is None:
            self._client = aws.client("sqs")
        return self._client


class KnownQueues:
    """Each source queue's facts, read once per container (a read that failed is tried again next time; until then
    the facts are `UNREAD`'s, which park earlier, never later)."""

    def __init__(self, queue: SourceQueue) -> None:
        self._queue = queue
        self._known: dict[str, QueueFacts] = {}

    def of(self, queue_url: str, time_left: TimeLeft) -> QueueFacts:
        facts = self._known.get(queue_url)
        if facts is None:
            facts = self._queue.attributes(queue_url, time_left)
            if facts is None:
                return UNREAD
            self._known[queue_url] = facts
        return facts


def _dead_letter(redrive_policy: object) -> str | None:
    """The deadLetterTargetArn of a RedrivePolicy (a JSON string; absent: the queue has no dead-letter queue)."""
    try:
        policy = codec.loads(redrive_policy) if isinstance(redrive_policy, str) else None
    except codec.JSONDecodeError:
        return None
    target = policy.get("deadLetterTargetArn") if type(policy) is dict else None
    return target if type(target) is str and target else None


def _chunks(count: int) -> list[list[int]]:
    """Indices 0 to `count` - 1 in batches of BATCH_ENTRIES."""
    return [list(range(start, min(start + BATCH_ENTRIES, count))) for start in range(0, count, BATCH_ENTRIES)]
