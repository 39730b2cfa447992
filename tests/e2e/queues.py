"""Reading where messages end besides the sink: the forwarder's dead-letter queue (parked documents, whole), source
dead-letter queues, and the stream range a Kinesis on-failure record names."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from mixpanel_forwarder import codec
from mixpanel_forwarder.parked import failures


def read_parked(reader: Any, body: str) -> dict[str, Any] | None:
    """The one place that turns a dead-letter message into its parked document.

    `mixpanel_forwarder.parked.ParkedReader` joins parts and follows S3 pointers; it returns None for
    a part whose group is not complete yet. Without it (older library), pass reader=None: plain JSON.
    """
    if reader is None:
        document: dict[str, Any] = codec.loads(body)
        return document
    result: dict[str, Any] | None = reader.read(body)
    return result


def parked_reader() -> Any:
    """A ParkedReader when the library has one, else None (plain JSON messages only)."""
    try:
        from mixpanel_forwarder.parked import ParkedReader
    except ImportError:  # pragma: no cover - an older library without oversized parking
        return None
    return ParkedReader()


def receive_everything(sqs: Any, queue_url: str, *, delete: bool) -> list[dict[str, Any]]:
    """Every message visible in a queue, received once with a long visibility timeout.

    On a FIFO queue only `delete=True` gets them all: an undeleted message locks its group.
    """
    messages: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=3600,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        )
        received = answer.get("Messages", [])
        if not received:
            return messages
        messages.extend(received)
        if delete:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)


def parked_documents(bodies: Iterable[str], handed_on: Collection[str] = ()) -> tuple[list[dict[str, Any]], int]:
    """The forwarder's parked documents, whole; and how many part groups never completed and are not
    explained (must be 0).

    A document's parts can go out in several calls; when parking is cut short (the deadline, a dropped
    connection), some parts are in the queue and the record is reported, to be parked again whole on its
    next delivery. Such an orphan group is explained when a whole document from the same place exists, or
    when the platform handed its record on (`handed_on`: message ids and sequence numbers) instead of
    delivering it again.
    """
    reader = parked_reader()
    documents = []
    part_sources: dict[str, tuple[str, str]] = {}
    for body in bodies:
        part = codec.loads(body).get("part")
        if isinstance(part, dict):
            part_sources[str(part["id"])] = _place(codec.loads(body).get("source") or {})
        document = read_parked(reader, body)
        if document is not None:
            documents.extend(failures(document))
    if reader is None:
        return documents, 0
    whole = {_place(document.get("source") or {}) for document in documents}
    orphans = [part_sources.get(part_id, ("?", "?")) for part_id in reader.incomplete]
    return documents, sum(1 for place in orphans if place not in whole and place[0] not in handed_on)


def _place(source: dict[str, Any]) -> tuple[str, str]:
    """Where a parked document came from: the record (message id or sequence number) and the item in it."""
    return str(source.get("messageId") or source.get("sequenceNumber")), str(source.get("item"))


class QueueCollector:
    """Empties a dead-letter queue while the run goes on, as an operator's consumer would, and keeps the
    bodies for the accounting.

    Why during the run: moto 5.2.5 checks retention for every message it hands out by computing the
    queue's attributes, which scans the whole queue, so receiving n messages from a queue of n costs
    O(n²). Emptied as they fill, dead-letter queues stay small; read only at the end, a long run's
    thousands of parked messages would take longer than the run.
    """

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.bodies: list[str] = []
        self.message_ids: list[str] = []  # a message moved to a source's dead-letter queue keeps its id
        self._sqs = sqs
        self._queue_url = queue_url

    def step(self) -> bool:
        for message in receive_everything(self._sqs, self._queue_url, delete=True):
            self.bodies.append(message["Body"])
            self.message_ids.append(message["MessageId"])
        return False  # collecting is not progress of the sources: it never keeps the run going

    def done(self) -> bool:
        return True


def stream_range(kinesis: Any, stream_name: str, batch_info: Mapping[str, Any]) -> dict[str, bytes]:
    """The records an on-failure record names, by sequence number: it carries only the shard and sequence
    range, so the data is read back from the stream, as an operator would."""
    iterator = kinesis.get_shard_iterator(
        StreamName=stream_name,
        ShardId=batch_info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=batch_info["startSequenceNumber"],
    )["ShardIterator"]
    end = int(batch_info["endSequenceNumber"])
    found: dict[str, bytes] = {}
    while True:
        answer = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        records = answer["Records"]
        for record in records:
            if int(record["SequenceNumber"]) > end:
                return found
            found[record["SequenceNumber"]] = record["Data"]
        if not records or int(records[-1]["SequenceNumber"]) >= end:
            return found
        iterator = answer["NextShardIterator"]
