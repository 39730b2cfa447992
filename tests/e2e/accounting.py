"""Where every produced event ended: imported (in the sink, after dedup), parked (in the forwarder's
dead-letter queue), redriven (a source dead-letter queue, or the stream range named by a Kinesis
on-failure record) — or lost. Markers are found wherever they are: in JSON, in raw text, in base64, in
gzip, in KPL protobuf bytes.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from mixpanel_forwarder import codec
from mixpanel_forwarder.parked import failures
from tests.e2e.producers import EXPECTED_FIELD, Kind, Planned

MARKER = re.compile(r"e2e[a-z]{2}[0-9]{7}")
_MARKER_BYTES = re.compile(rb"e2e[a-z]{2}[0-9]{7}")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4}){3,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
SOURCES = ("sqs", "sqs-fifo", "kinesis")

# Valid events a fault of the sink's own makes the forwarder park, as documented: a strict-mode refusal
# (`reject_next`) and a 413 on a request of one event.
SINK_REFUSED = "valid, refused by the sink (reject_next)"
SINK_413 = "valid, 413 on a single-event request"


# --- finding markers ------------------------------------------------------------------------------------


def markers_in_bytes(data: bytes) -> set[str]:
    """Markers in raw bytes, and inside them when they are gzip (KPL protobuf keeps its payload verbatim)."""
    found = {match.decode() for match in _MARKER_BYTES.findall(data)}
    if data[:2] == b"\x1f\x8b":
        with suppress(OSError, EOFError, zlib.error):
            found |= markers_in_bytes(gzip.decompress(data))
    return found


def markers_in(value: Any) -> set[str]:
    """Every marker anywhere in a JSON value, looking inside strings that are base64 (Kinesis data,
    binary payloads parked as `{"base64": ...}`) and JSON text (SQS bodies, SNS messages) alike."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.update(MARKER.findall(item))
            if len(item) >= 12 and _BASE64.fullmatch(item):
                with suppress(binascii.Error, ValueError):
                    found |= markers_in_bytes(base64.b64decode(item, validate=True))
    return found


# --- reading the queues -----------------------------------------------------------------------------------


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


def parked_documents(bodies: Iterable[str]) -> tuple[list[dict[str, Any]], int]:
    """The forwarder's parked documents, whole; and how many part groups never completed and are not
    explained (must be 0).

    A document's parts can go out in several calls; when parking is cut short (the deadline, a dropped
    connection), some parts are in the queue and the record is reported, to be parked again whole on its
    next delivery. Such an orphan group is explained when a whole document from the same place exists.
    """
    reader = parked_reader()
    documents = []
    part_sources: dict[str, str] = {}
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
    return documents, sum(1 for part_id in reader.incomplete if part_sources.get(part_id) not in whole)


def _place(source: dict[str, Any]) -> str:
    """Where a parked document came from: the record (message id or sequence number) and the item in it."""
    record = source.get("messageId") or source.get("sequenceNumber")
    return f"{record}/{source.get('item')}"


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
        self._sqs = sqs
        self._queue_url = queue_url

    def step(self) -> bool:
        self.bodies.extend(m["Body"] for m in receive_everything(self._sqs, self._queue_url, delete=True))
        return False  # collecting is not progress of the sources: it never keeps the run going

    def done(self) -> bool:
        return True


def stream_range_markers(kinesis: Any, stream_name: str, batch_info: Mapping[str, Any]) -> set[str]:
    """Markers in the records an on-failure record names: it carries only the shard and sequence range,
    so the data is read back from the stream, as an operator would."""
    iterator = kinesis.get_shard_iterator(
        StreamName=stream_name,
        ShardId=batch_info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=batch_info["startSequenceNumber"],
    )["ShardIterator"]
    end = int(batch_info["endSequenceNumber"])
    found: set[str] = set()
    while True:
        answer = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        records = answer["Records"]
        for record in records:
            if int(record["SequenceNumber"]) > end:
                return found
            found |= markers_in_bytes(record["Data"])
        if not records or int(records[-1]["SequenceNumber"]) >= end:
            return found
        iterator = answer["NextShardIterator"]


# --- the accounting ---------------------------------------------------------------------------------------


@dataclass
class Accounting:
    """Every produced event's final state, by marker, and whatever could not be explained."""

    planned: dict[str, Planned]
    imported: Counter[str] = field(default_factory=Counter)  # marker -> events in the sink (after dedup)
    parked: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    redriven: dict[str, str] = field(default_factory=dict)  # marker -> where
    unexplained: list[str] = field(default_factory=list)
    duplicates_dropped: int = 0

    def state(self, marker: str) -> str:
        """imported > parked > redriven: a redelivered record can leave an event in more than one place."""
        if self.imported[marker]:
            return "imported"
        if self.parked.get(marker):
            return "parked"
        if marker in self.redriven:
            return "redriven"
        return "lost"

    def parked_class(self, marker: str) -> str:
        """Why a parked event was parked: its poison kind (checked against the field named), or why a valid
        one was."""
        planned = self.planned[marker]
        if planned.kind is not Kind.VALID:
            return str(planned.kind)
        fields = {document.get("field") for document in self.parked[marker]}
        if fields == {"properties.forced"}:
            return SINK_REFUSED
        if fields == {"event"} and all("too large for one request" in d["reason"] for d in self.parked[marker]):
            return SINK_413
        return f"valid, unexpected: {sorted(str(f) for f in fields)}"

    def lost(self) -> list[str]:
        return [marker for marker in self.planned if self.state(marker) == "lost"]

    def misfiled_poison(self) -> list[str]:
        """Poison events parked under another field than their defect's: a wrong reason is a bug too."""
        wrong = []
        for marker, documents in self.parked.items():
            planned = self.planned.get(marker)
            if planned is None or planned.kind is Kind.VALID:
                continue
            if not any(EXPECTED_FIELD[planned.kind](document.get("field")) for document in documents):
                wrong.append(f"{marker} ({planned.kind}): {[d.get('field') for d in documents]}")
        return wrong

    def parked_more_than_once(self) -> int:
        return sum(len(documents) - 1 for documents in self.parked.values() if len(documents) > 1)


def account(
    planned: dict[str, Planned],
    sink_events: Iterable[Mapping[str, Any]],
    duplicates_dropped: int,
    parked_documents: Iterable[dict[str, Any]],
    redriven: Mapping[str, Iterable[str]],
) -> Accounting:
    """Builds the accounting; `redriven` maps a place (e.g. "sqs DLQ") to the markers found there."""
    accounting = Accounting(planned, duplicates_dropped=duplicates_dropped)
    for event in sink_events:
        properties = event.get("properties")
        marker = properties.get("e2e_marker") if isinstance(properties, dict) else None
        if not isinstance(marker, str) or marker not in planned:
            accounting.unexplained.append(f"imported event without a known marker: {str(event)[:200]}")
            continue
        accounting.imported[marker] += 1
    for document in parked_documents:
        markers = markers_in(document.get("record") if "record" in document else document.get("event"))
        known = {marker for marker in markers if marker in planned}
        if not known:
            accounting.unexplained.append(f"parked document without a known marker: {str(document)[:300]}")
        for marker in known:
            accounting.parked[marker].append(document)
    for place, found in redriven.items():
        for marker in found:
            if marker in planned:
                accounting.redriven.setdefault(marker, place)
            else:
                accounting.unexplained.append(f"{place} holds unknown marker {marker}")
    return accounting


def render_table(accounting: Accounting, title: str) -> str:
    """The accounting as a fixed-width table, one column per source and a total."""
    columns = [*SOURCES, "total"]
    rows: list[tuple[str, Counter[str]]] = []

    def count(predicate: Any) -> Counter[str]:
        counts: Counter[str] = Counter()
        for marker, planned in accounting.planned.items():
            if predicate(marker, planned):
                counts[planned.source] += 1
                counts["total"] += 1
        return counts

    rows.append(("sent", count(lambda m, p: True)))
    rows.append(("  valid", count(lambda m, p: p.kind is Kind.VALID)))
    rows.append(("  poison", count(lambda m, p: p.kind is not Kind.VALID)))
    rows.append(("imported (unique in the sink)", count(lambda m, p: accounting.state(m) == "imported")))
    rows.append(("duplicates dropped by dedup", Counter({"total": accounting.duplicates_dropped})))
    rows.append(("parked", count(lambda m, p: accounting.state(m) == "parked")))
    classes = sorted({accounting.parked_class(m) for m in accounting.planned if accounting.state(m) == "parked"})
    for reason in classes:
        rows.append(
            (
                f"  {reason}",
                count(lambda m, p, r=reason: accounting.state(m) == "parked" and accounting.parked_class(m) == r),
            )
        )
    rows.append(("  parked twice or more (redelivered)", Counter({"total": accounting.parked_more_than_once()})))
    places = sorted(set(accounting.redriven.values()))
    rows.append(("redriven", count(lambda m, p: accounting.state(m) == "redriven")))
    for place in places:
        rows.append(
            (
                f"  {place}",
                count(lambda m, p, x=place: accounting.state(m) == "redriven" and accounting.redriven[m] == x),
            )
        )
    rows.append(("lost", count(lambda m, p: accounting.state(m) == "lost")))
    rows.append(("unexplained (sink/DLQ items without a marker)", Counter({"total": len(accounting.unexplained)})))

    width = max(len(label) for label, _ in rows) + 2
    lines = [title, f"{'':<{width}}" + "".join(f"{c:>10}" for c in columns)]
    for label, counts in rows:
        lines.append(f"{label:<{width}}" + "".join(f"{counts.get(c, 0):>10}" for c in columns))
    return "\n".join(lines)
