"""The parked-events queue as a replay reads it: documents as they become whole (parts joined, S3 pointers fetched),
and their messages deleted or released in batches."""

from __future__ import annotations

from collections.abc import Callable, Container, Generator
from dataclasses import dataclass
from typing import Any

from .deadletter import sqs_batches
from .errors import DecodeError, ForwarderError
from .parked import ParkedReader

RECEIVE_BATCH = 10
VISIBILITY_SECONDS = 300  # long enough to replay a chunk before the messages show up again


@dataclass
class ParkedDocument:
    document: dict[str, Any]
    receipts: list[str]  # every SQS message it came in (several when it was parked in parts)
    problem: str | None = None  # why it cannot be read (the message is no parked document): then it is kept


def read_queue(
    sqs_client: Any,
    queue_url: str,
    limit: int | None,
    receipts_of_part: dict[str, list[str]],
    ours: Container[str] = frozenset(),
    passed: list[str] | None = None,
) -> Generator[ParkedDocument | None]:
    """Parked documents as they become whole; None for a message that is one part of an unfinished one.

    `receipts_of_part` is left holding the messages of documents whose other parts never came. A message whose id is
    in `ours` (what this run parked in place of a document it imported part of) is not read: its receipt goes to
    `passed`, for the run to release at its end; and so do the messages received and not yet handed out when the
    caller stops reading (closes the generator).
    """
    reader = ParkedReader()
    seen = 0
    unread: list[str] = []  # receipts of the messages received and not yet handed out, last first
    try:
        while limit is None or seen < limit:
            answer = sqs_client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=RECEIVE_BATCH,
                VisibilityTimeout=VISIBILITY_SECONDS,
                WaitTimeSeconds=1,
            )
            messages = answer.get("Messages", [])
            if not messages:
                return
            unread = [message["ReceiptHandle"] for message in reversed(messages)]
            for message in messages:
                if limit is not None and seen >= limit:
                    return  # the rest of the batch unread: released
                receipt = unread.pop()
                if message.get("MessageId") in ours:
                    if passed is not None:
                        passed.append(receipt)
                    continue
                try:
                    document = reader.read(message["Body"])
                except DecodeError as exc:  # no parked document: kept as it is, saying why
                    group = receipts_of_part.pop(reader.last_part, []) if reader.last_part is not None else []
                    seen += 1
                    yield ParkedDocument({}, [*group, receipt], str(exc))
                    continue
                receipts = [receipt]
                if reader.last_part is not None:
                    receipts = receipts_of_part.setdefault(reader.last_part, [])
                    receipts.append(receipt)
                    if document is not None:
                        del receipts_of_part[reader.last_part]
                if document is None:  # a part of a document whose other parts are still to come
                    yield None
                    continue
                seen += 1
                yield ParkedDocument(document, receipts)
    finally:
        if passed is not None:
            passed += unread


def in_batches(receipts: list[str], call: Callable[[list[dict[str, str]]], Any]) -> None:
    for chunk in sqs_batches([len(receipt) for receipt in receipts]):
        entries = [{"Id": str(n), "ReceiptHandle": receipts[i]} for n, i in enumerate(chunk)]
        answer = call(entries)
        failed = answer.get("Failed", []) if isinstance(answer, dict) else []
        if failed:
            raise ForwarderError(f"the dead-letter queue refused {len(failed)} of {len(entries)} deletions/releases")
