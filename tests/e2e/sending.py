"""Sending a plan: SQS messages a little at a time while the run goes on, and Kinesis records all at once, within
each API's limits."""

from __future__ import annotations

from typing import Any

MIB = 1024 * 1024
SQS_BATCH_BYTES = 1_000_000  # SendMessageBatch allows 1 MiB for all entries together: keep a margin
KINESIS_PUT_RECORDS = 500
KINESIS_PUT_BYTES = 4 * MIB  # PutRecords allows 5 MiB: keep a margin


def sqs_entries(bodies: list[str]) -> list[dict[str, str]]:
    return [{"MessageBody": body} for body in bodies]


def fifo_entries(messages: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [
        {"MessageBody": body, "MessageGroupId": group, "MessageDeduplicationId": dedup}
        for body, group, dedup in messages
    ]


class QueueFeeder:
    """Sends a queue's messages a little at a time, never more than `depth` outstanding, the way producers
    keep producing while the function consumes.

    It also keeps moto's queues shallow, which moto needs: every send, receive and delete computes the
    queue's attributes by scanning all of its messages (see accounting.QueueCollector), so the depth is
    what each message costs. A poison message stays outstanding until it is dead-lettered, so the depth
    also bounds how many of those are worked through at once."""

    def __init__(self, sqs: Any, queue_url: str, entries: list[dict[str, str]], *, depth: int = 50) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._entries = entries
        self._depth = depth
        self._next = 0

    def step(self) -> bool:
        if self.done():
            return False
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=names)["Attributes"]
        room = self._depth - sum(int(attributes[name]) for name in names)
        if room <= 0:
            return False
        chunk = self._entries[self._next : self._next + room]
        send_entries(self._sqs, self._queue_url, chunk)
        self._next += len(chunk)
        return True

    def done(self) -> bool:
        return self._next >= len(self._entries)


def send_entries(sqs: Any, queue_url: str, entries: list[dict[str, str]]) -> None:
    """SendMessageBatch, ≤ 10 entries and ≤ 1 MiB per call; a message too big to share a call goes alone."""
    chunk: list[dict[str, str]] = []
    size = 0
    for entry in [*entries, None]:
        length = len(entry["MessageBody"].encode()) if entry is not None else 0
        if chunk and (entry is None or len(chunk) == 10 or size + length > SQS_BATCH_BYTES):
            if len(chunk) == 1 and size > SQS_BATCH_BYTES:
                sqs.send_message(QueueUrl=queue_url, **chunk[0])
            else:
                numbered = [{"Id": str(i), **item} for i, item in enumerate(chunk)]
                answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=numbered)
                if answer.get("Failed"):
                    raise RuntimeError(f"SendMessageBatch refused {answer['Failed']}")
            chunk, size = [], 0
        if entry is not None:
            chunk.append(entry)
            size += length


def send_kinesis(kinesis: Any, stream_name: str, records: list[tuple[bytes, str]]) -> None:
    """PutRecords, ≤ 500 records and ≤ 4 MiB per call; refused records are put again."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for record in [*records, None]:
        length = len(record[0]) + len(record[1]) if record is not None else 0
        if chunk and (record is None or len(chunk) == KINESIS_PUT_RECORDS or size + length > KINESIS_PUT_BYTES):
            _put_records(kinesis, stream_name, chunk)
            chunk, size = [], 0
        if record is not None:
            chunk.append({"Data": record[0], "PartitionKey": record[1]})
            size += length


def _put_records(kinesis: Any, stream_name: str, entries: list[dict[str, Any]]) -> None:
    for _ in range(5):
        answer = kinesis.put_records(StreamName=stream_name, Records=entries)
        if not answer.get("FailedRecordCount"):
            return
        entries = [entry for entry, result in zip(entries, answer["Records"], strict=True) if "ErrorCode" in result]
    raise RuntimeError(f"PutRecords kept refusing {len(entries)} records")
