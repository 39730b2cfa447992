"""Parking permanent failures in the forwarder's dead-letter queue (the document format is in parked.py).

Documents are packed into as few messages as the queue's limits allow (events of one record share a
document), sent ten at a time, and every AWS call is bounded by the time the invocation has left: what
is not stored by then is reported for retry, never acknowledged. A document larger than the queue's
MaximumMessageSize (or holding characters SQS refuses) is never truncated: it goes to S3 when
`DEAD_LETTER_BUCKET` is set (the message then points at the object), or is split into base64 parts,
each carrying the reason, the source and `part: {id, index, count}`; `ParkedReader` puts either back
together. boto3 is imported on first use only.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, Protocol

from . import aws, codec
from .log import logger
from .parked import Parked, shared_document, shared_source

SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 1024 * 1024  # SendMessageBatch: all entries together
SQS_DEFAULT_MESSAGE_BYTES = 256 * 1024  # MaximumMessageSize unless the queue sets another
_PART_ENVELOPE_BYTES = 4096  # room for reason, source and part fields beside the data
_SHARED_ENVELOPE_BYTES = 64  # `{"source":…,"events":[…]}` beside the source and the entries
# Characters SQS refuses in a message body (it allows #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000+).
_SQS_FORBIDDEN = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]"  # compiled on first use: cold start

TimeLeft = Callable[[], float]  # seconds the invocation has left for parking


def _unbounded() -> float:
    return float("inf")


class Parker(Protocol):
    def park(self, parked: list[Parked], time_left: TimeLeft = _unbounded) -> list[bool]:
        """Stores each one; returns, per item, whether it is stored whole."""
        ...


class SqsParker:
    def __init__(
        self,
        queue_url: str,
        *,
        bucket: str | None = None,
        sqs_client: Any = None,
        s3_client: Any = None,
        max_message_bytes: int | None = None,
    ) -> None:
        self._queue_url = queue_url
        self._bucket = bucket
        self._sqs_client = sqs_client
        self._s3_client = s3_client
        self._max_message_bytes = max_message_bytes

    def park(
        self, parked: list[Parked], time_left: TimeLeft = _unbounded, sent_ids: list[str] | None = None
    ) -> list[bool]:
        """As Parker's; `sent_ids`, when given, gets the id SQS gave each message it took (a replay that parks what
        stays of a document must not read it again in the same run)."""
        limit = self._message_limit(time_left)
        # An item is stored only if every message holding a piece of it is sent.
        messages: list[str] = []
        holders: list[list[int]] = []
        for document, owners, envelope in _documents(parked, limit):
            try:
                bodies = self._bodies(document, envelope, limit, time_left)
            except Exception as exc:  # S3 refused or did not answer in time: the records go back for retry
                logger.warning("could not store a parked document in S3", extra={"error": aws.describe(exc)})
                continue
            messages.extend(bodies)
            holders.extend([owners] * len(bodies))
        needed = [0] * len(parked)
        sent_ok = [0] * len(parked)
        for owners, sent in zip(holders, self._send(messages, time_left, sent_ids), strict=True):
            for owner in owners:
                needed[owner] += 1
                sent_ok[owner] += sent
        return [0 < needed[i] == sent_ok[i] for i in range(len(parked))]

    def _bodies(self, document: bytes, envelope: dict[str, Any], limit: int, time_left: TimeLeft) -> list[str]:
        text = document.decode()
        if len(document) <= limit and not re.search(_SQS_FORBIDDEN, text):
            return [text]
        if self._bucket is not None and len(document) > limit:
            key = f"parked/{uuid.uuid4()}.json"
            s3 = self._s3()
            aws.call_within(
                time_left(),
                lambda: s3.put_object(Bucket=self._bucket, Key=key, Body=document, ContentType="application/json"),
            )
            pointer = {"s3": {"bucket": self._bucket, "key": key}}
            return [codec.dumps({**envelope, **pointer}).decode()]
        return _parts(envelope, document, limit)

    def _send(self, messages: list[str], time_left: TimeLeft, sent_ids: list[str] | None) -> list[bool]:
        sent = [False] * len(messages)
        sqs = None
        for chunk in _chunks(messages):
            remaining = time_left()
            if remaining <= 0:
                logger.warning("no time left to park; the rest is reported for retry", extra={"messages": len(chunk)})
                break
            entries = [{"Id": str(i), "MessageBody": messages[i]} for i in chunk]
            try:
                sqs = sqs or self._sqs()
                send = partial(sqs.send_message_batch, QueueUrl=self._queue_url, Entries=entries)
                answer = aws.call_within(remaining, send)
            except Exception as exc:  # botocore's errors, a timeout, no credentials: reported for retry
                logger.warning("dead-letter queue did not take a batch", extra={"error": aws.describe(exc)})
                continue
            for success in answer.get("Successful", []):
                sent[int(success["Id"])] = True
                if sent_ids is not None:
                    sent_ids.append(success["MessageId"])
            for failed in answer.get("Failed", []):
                logger.warning(
                    "dead-letter queue refused a message",
                    extra={"code": failed.get("Code"), "detail": str(failed.get("Message"))[:300]},
                )
        return sent

    def _message_limit(self, time_left: TimeLeft) -> int:
        if self._max_message_bytes is None:
            try:
                sqs = self._sqs()
                answer = aws.call_within(
                    time_left(),
                    lambda: sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["MaximumMessageSize"]),
                )
                self._max_message_bytes = int(answer["Attributes"]["MaximumMessageSize"])
            except Exception as exc:  # the conservative default still parks everything, in more parts
                logger.warning("cannot read the dead-letter queue's size limit", extra={"error": aws.describe(exc)})
                return SQS_DEFAULT_MESSAGE_BYTES
        return self._max_message_bytes

    def _sqs(self) -> Any:
        if self._sqs_client is None:
            self._sqs_client = aws.client("sqs")
        return self._sqs_client

    def _s3(self) -> Any:
        if self._s3_client is None:
            self._s3_client = aws.client("s3")
        return self._s3_client


Document = tuple[bytes, list[int], dict[str, Any]]  # the document, the items it holds, what its parts carry


def _documents(parked: list[Parked], limit: int) -> Iterator[Document]:
    """Each document to store, with the items it holds: events of one record packed up to `limit` bytes."""
    index = 0
    while index < len(parked):
        item = parked[index]
        run_end = index + 1
        if item.group is not None:
            while run_end < len(parked) and parked[run_end].group == item.group:
                run_end += 1
        if run_end - index == 1:
            yield _single(parked, index)
            index = run_end
            continue
        source = shared_source(item)
        room = limit - len(codec.dumps(source)) - _SHARED_ENVELOPE_BYTES
        entries: list[bytes] = []
        owners: list[int] = []
        size = 0
        for position in range(index, run_end):
            entry = parked[position].entry()
            if entry is None or len(entry) + 1 > room:  # not encodable as an entry, or too large to share
                yield _single(parked, position)
                continue
            if entries and size + len(entry) + 1 > room:
                yield _one_or_shared(parked, source, entries, owners)
                entries, owners, size = [], [], 0
            entries.append(entry)
            owners.append(position)
            size += len(entry) + 1
        if entries:
            yield _one_or_shared(parked, source, entries, owners)
        index = run_end


def _one_or_shared(parked: list[Parked], source: dict[str, Any], entries: list[bytes], owners: list[int]) -> Document:
    if len(owners) == 1:
        return _single(parked, owners[0])
    return shared_document(source, entries), owners, {"source": source}


def _single(parked: list[Parked], index: int) -> Document:
    item = parked[index]
    return item.document(), [index], {**item.reason, "source": item.source}


def _parts(envelope: dict[str, Any], document: bytes, limit: int) -> list[str]:
    """The document in base64 slices, each a message small enough for the queue."""
    room = max(limit - len(codec.dumps(envelope)) - _PART_ENVELOPE_BYTES, 1024)
    step = room * 3 // 4  # base64 grows by 4/3
    slices = [document[start : start + step] for start in range(0, len(document), step)]
    part_id = str(uuid.uuid4())
    return [
        codec.dumps(
            {
                **envelope,
                "part": {"id": part_id, "index": index, "count": len(slices)},
                "data": base64.b64encode(piece).decode(),
            }
        ).decode()
        for index, piece in enumerate(slices)
    ]


def sqs_batches(sizes: list[int]) -> list[list[int]]:
    """Indices of messages in SendMessageBatch-sized groups: at most ten entries and 1 MiB together."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, length in enumerate(sizes):
        if current and (len(current) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(index)
        size += length
    if current:
        chunks.append(current)
    return chunks


def _chunks(messages: list[str]) -> list[list[int]]:
    return sqs_batches([len(message.encode()) for message in messages])
