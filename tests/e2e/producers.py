"""Producers for the end-to-end runs: N events in every payload shape the forwarder reads, a known share
of them poison, each carrying a marker that can be found again wherever the event ends up (the sink,
the forwarder's dead-letter queue, a source dead-letter queue, the stream behind an on-failure record).

Markers are `e2e` + a two-letter run tag + 7 digits: valid events carry theirs in `properties.e2e_marker`
(and most also as `$insert_id`); poison ones carry it in a property too, or in the raw text or bytes when
the payload is not JSON at all, so an undecodable record parked whole still names every event in it.
"""

from __future__ import annotations

import enum
import gzip
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localdev.eventgen import cloudwatch_logs_data, eventbridge_envelope, kpl_aggregate, sample_event, sns_envelope

MIB = 1024 * 1024
SQS_BATCH_BYTES = 1_000_000  # SendMessageBatch allows 1 MiB for all entries together: keep a margin
KINESIS_PUT_RECORDS = 500
KINESIS_PUT_BYTES = 4 * MIB  # PutRecords allows 5 MiB: keep a margin
_EPOCH_1960_S = -315_619_200


class Kind(enum.StrEnum):
    """What a produced event is: valid, or the one defect that makes it poison."""

    VALID = "valid"
    BAD_JSON = "bad JSON"
    NO_NAME = "missing event name"
    TOO_OLD = "time before 1971"
    PLACEHOLDER_ID = "placeholder distinct_id"
    BAD_INSERT_ID = "bad $insert_id"
    TOO_MANY_PROPERTIES = "more than 255 properties"
    TOO_DEEP = "nested deeper than 3"
    OVER_1MIB = "event of 1 MiB or more"


# The field a parked document names for each poison kind (Mixpanel's own field names, not our wording).
EXPECTED_FIELD: dict[Kind, Callable[[str | None], bool]] = {
    Kind.BAD_JSON: lambda f: f == "record",
    Kind.NO_NAME: lambda f: f == "event",
    Kind.TOO_OLD: lambda f: f == "properties.time",
    Kind.PLACEHOLDER_ID: lambda f: f == "properties.distinct_id",
    Kind.BAD_INSERT_ID: lambda f: f == "properties.$insert_id",
    Kind.TOO_MANY_PROPERTIES: lambda f: f == "properties",
    Kind.TOO_DEEP: lambda f: f is not None and f.startswith("properties.nested"),
    Kind.OVER_1MIB: lambda f: f == "event",
}
# Poison that stays JSON: any event of any shape can carry one of these.
_EVENT_DEFECTS = (
    Kind.NO_NAME,
    Kind.TOO_OLD,
    Kind.PLACEHOLDER_ID,
    Kind.BAD_INSERT_ID,
    Kind.TOO_MANY_PROPERTIES,
    Kind.TOO_DEEP,
)
_PLACEHOLDERS = ("undefined", "null", "anon", "0", "00000000-0000-0000-0000-000000000000", "N/A", "unknown")

SQS_SHAPES = ("object", "array", "ndjson", "sns", "eventbridge")
FIFO_SHAPES = ("object", "array")
KINESIS_SHAPES = ("plain", "array", "ndjson", "gzip", "kpl", "cloudwatch-logs")


@dataclass(frozen=True, slots=True)
class Planned:
    """One produced event: where it was sent, in which shape, and what it is."""

    marker: str
    source: str  # "sqs", "sqs-fifo" or "kinesis"
    shape: str
    kind: Kind


@dataclass
class Plan:
    """Everything to send, and the truth about every event in it."""

    events: dict[str, Planned] = field(default_factory=dict)
    sqs_bodies: list[str] = field(default_factory=list)
    fifo_messages: list[tuple[str, str, str]] = field(default_factory=list)  # body, group id, dedup id
    kinesis_records: list[tuple[bytes, str]] = field(default_factory=list)  # data, partition key

    def count(self, source: str) -> int:
        return sum(1 for planned in self.events.values() if planned.source == source)

    def kinds(self) -> Counter[Kind]:
        return Counter(planned.kind for planned in self.events.values())


class Producer:
    """Builds a Plan, deterministically for a seed: the same run tag and seed give the same bytes."""

    def __init__(
        self,
        *,
        tag: str,
        seed: int,
        poison_rate: float,
        now_s: int,
        sqs_max_message_bytes: int,
        fifo_groups: int = 12,
    ) -> None:
        if len(tag) != 2 or not tag.isalpha() or not tag.islower():
            raise ValueError(f"the run tag must be two lowercase letters, got {tag!r}")
        self.plan = Plan()
        self._tag = tag
        self._rng = random.Random(seed)
        self._poison_rate = poison_rate
        self._now_s = now_s
        self._sqs_max = sqs_max_message_bytes
        self._fifo_groups = fifo_groups
        self._n = 0

    # --- events --------------------------------------------------------------------------------------

    def _marker(self, source: str, shape: str, kind: Kind) -> str:
        marker = f"e2e{self._tag}{self._n:07d}"
        self._n += 1
        self.plan.events[marker] = Planned(marker, source, shape, kind)
        return marker

    def _pick_kind(self, *, bad_json: bool) -> Kind:
        if self._rng.random() >= self._poison_rate:
            return Kind.VALID
        kinds = (*_EVENT_DEFECTS, Kind.BAD_JSON) if bad_json else _EVENT_DEFECTS
        return self._rng.choice(kinds)

    def _valid(self, marker: str) -> dict[str, Any]:
        """A realistic event whose time, $insert_id and layout vary the way real producers vary them."""
        rng = self._rng
        time_s = self._now_s - rng.randint(60, 3 * 86_400)
        event = sample_event(self._n, time_s=time_s)
        properties = event["properties"]
        properties["time"] = time_s  # sample_event adds its index: 100,000 events would reach into the future
        properties["e2e_marker"] = marker
        if rng.random() < 0.7:
            properties["$insert_id"] = marker
        else:
            del properties["$insert_id"]  # the forwarder derives one from the record's coordinates
        style = rng.random()
        if style < 0.15:
            properties["time"] = time_s * 1000 + rng.randrange(1000)
        elif style < 0.25:
            properties["time"] = datetime.fromtimestamp(time_s, UTC).isoformat()
        elif style < 0.3:
            properties["time"] = time_s + 0.25
        elif style < 0.35:
            properties["time"] = str(time_s)
        elif style < 0.45:
            del properties["time"]  # the envelope's timestamp is used, the same on every redelivery
        if rng.random() < 0.1:
            return {"event": event["event"], **properties}  # flat: top-level fields become properties
        return event

    def _poison(self, kind: Kind, marker: str) -> dict[str, Any]:
        """A valid event with exactly one defect, so the field it is refused on is known in advance."""
        event = self._valid(marker)
        if "properties" not in event:
            event = {"event": event.pop("event"), "properties": event}
        properties = event["properties"]
        if kind is Kind.NO_NAME:
            del event["event"]
        elif kind is Kind.TOO_OLD:
            properties["time"] = _EPOCH_1960_S + self._n
        elif kind is Kind.PLACEHOLDER_ID:
            properties["distinct_id"] = self._rng.choice(_PLACEHOLDERS)
        elif kind is Kind.BAD_INSERT_ID:
            properties["$insert_id"] = self._rng.choice([f"bad id {marker}", "x" * 37, f"{marker}!"])
        elif kind is Kind.TOO_MANY_PROPERTIES:
            properties.update({f"p{k:03d}": k for k in range(256)})
        elif kind is Kind.TOO_DEEP:
            properties["nested"] = {"a": {"b": {"c": {"marker": marker}}}}
        else:
            raise ValueError(f"{kind} is not a JSON-level defect")
        return event

    def _bad_text(self, marker: str) -> str:
        """A truncated JSON event: not JSON, one line, the marker in plain sight."""
        return f'{{"event": "Order Completed", "properties": {{"e2e_marker": "{marker}", "amount": 42.5, "items": ['

    def _bad_bytes(self, marker: str) -> bytes:
        """Binary garbage (not UTF-8, no newline) with the marker embedded."""
        return b"\x00\x01\xfe\xffbinary:" + marker.encode() + b"\xc3\x28\x80"

    def make(self, source: str, shape: str, kind: Kind) -> tuple[str, Any]:
        """(marker, event dict) for a JSON kind, (marker, bad text) for BAD_JSON."""
        marker = self._marker(source, shape, kind)
        if kind is Kind.VALID:
            return marker, self._valid(marker)
        if kind is Kind.BAD_JSON:
            return marker, self._bad_text(marker)
        return marker, self._poison(kind, marker)

    def _events(
        self, source: str, shape: str, sizes: tuple[int, int], *, bad_json: bool, kinds: Sequence[Kind] | None
    ) -> list[tuple[Kind, str, Any]]:
        """(kind, marker, event dict or bad text) for the events of one record: `kinds` if given, else drawn."""
        if kinds is None:
            kinds = [self._pick_kind(bad_json=bad_json) for _ in range(self._rng.randint(*sizes))]
        elif Kind.BAD_JSON in kinds and not bad_json:
            raise ValueError(f"a {shape} record cannot hold one bad JSON event: break the whole record")
        return [(kind, *self.make(source, shape, kind)) for kind in kinds]

    def _broken_record(self, source: str, shape: str, count: int) -> list[dict[str, Any]]:
        """Events for a record that will not decode as a whole: every one of them is BAD_JSON."""
        events = []
        for _ in range(count):
            marker = self._marker(source, shape, Kind.BAD_JSON)
            events.append(self._valid(marker))
        return events

    def _broken_count(self, sizes: tuple[int, int], kinds: Sequence[Kind] | None, broken: bool | None) -> int:
        """How many events a whole broken record holds, or 0 when this record is not to be broken."""
        if broken is None:
            broken = kinds is None and self._rng.random() < self._poison_rate / 4
        if not broken:
            return 0
        return len(kinds) if kinds else self._rng.randint(*sizes)

    # --- SQS -----------------------------------------------------------------------------------------

    def sqs_body(
        self, shape: str, source: str = "sqs", *, kinds: Sequence[Kind] | None = None, broken: bool | None = None
    ) -> str:
        """One SQS body of `shape`; `kinds` fixes its events, `broken` makes the whole record undecodable
        (array and eventbridge shapes: the other shapes break one event at a time, with BAD_JSON)."""
        if shape == "object":
            [(kind, _, event)] = self._events(source, shape, (1, 1), bad_json=True, kinds=kinds)
            return event if kind is Kind.BAD_JSON else _compact(event)
        if shape == "array":
            if count := self._broken_count((2, 25), kinds, broken):
                return _compact(self._broken_record(source, shape, count)) + " <trailing garbage>"
            events = self._events(source, shape, (2, 25), bad_json=False, kinds=kinds)
            return _compact([event for _, _, event in events])
        if shape == "ndjson":
            lines = self._events(source, shape, (2, 25), bad_json=True, kinds=kinds)
            return "\n".join(e if kind is Kind.BAD_JSON else _compact(e) for kind, _, e in lines) + "\n"
        if shape == "sns":
            single = len(kinds) == 1 if kinds is not None else self._rng.random() < 0.5
            if single:
                [(kind, _, event)] = self._events(source, shape, (1, 1), bad_json=True, kinds=kinds)
                message = event if kind is Kind.BAD_JSON else _compact(event)
            else:
                events = self._events(source, shape, (2, 10), bad_json=False, kinds=kinds)
                message = _compact([event for _, _, event in events])
            return sns_envelope(message, index=self._n)
        if shape == "eventbridge":
            if self._broken_count((1, 1), kinds, broken):
                [event] = self._broken_record(source, shape, 1)
                return eventbridge_envelope(event, index=self._n)[:-1]  # the closing brace is missing
            [(_, _, event)] = self._events(source, shape, (1, 1), bad_json=False, kinds=kinds)
            return eventbridge_envelope(event, index=self._n)
        raise ValueError(f"unknown SQS shape {shape!r}")

    def add_sqs(self, shape: str) -> None:
        self.plan.sqs_bodies.append(self.sqs_body(shape))

    def add_fifo(self, shape: str) -> None:
        group = f"user-{self._rng.randrange(self._fifo_groups)}"
        body = self.sqs_body(shape, source="sqs-fifo")
        self.plan.fifo_messages.append((body, group, f"dedup-{self._n}"))

    def add_sqs_huge(self) -> bool:
        """One event just under the queue's size limit that normalizes to 1 MiB or more; False if the queue
        is too small for such an event to exist at all (then only the stream can carry one)."""
        body_bytes = self._sqs_max - 16
        if body_bytes + 56 < MIB:  # normalizing adds `ip` and a derived $insert_id: about 55 bytes
            return False
        marker = self._marker("sqs", "object", Kind.OVER_1MIB)
        properties: dict[str, Any] = {"time": self._now_s - 60, "e2e_marker": marker, "distinct_id": "user-huge"}
        event = {"event": "Report Exported", "properties": properties}
        properties["blob"] = ""
        properties["blob"] = "x" * (body_bytes - len(_compact(event)))
        body = _compact(event)
        assert len(body.encode()) == body_bytes
        self.plan.sqs_bodies.append(body)
        return True

    def add_sqs_huge_undecodable(self) -> None:
        """A body as large as the queue takes that is not JSON: parked whole, it is larger than the queue."""
        marker = self._marker("sqs", "object", Kind.BAD_JSON)
        head = self._bad_text(marker)
        self.plan.sqs_bodies.append(head + "x" * (self._sqs_max - 16 - len(head)))

    # --- Kinesis -------------------------------------------------------------------------------------

    def kinesis_data(self, shape: str, *, kinds: Sequence[Kind] | None = None, broken: bool | None = None) -> bytes:
        """One Kinesis record's data of `shape`; `kinds` and `broken` as for sqs_body (array and gzip break
        whole)."""
        source = "kinesis"
        if shape == "plain":
            [(kind, marker, event)] = self._events(source, shape, (1, 1), bad_json=True, kinds=kinds)
            return self._bad_bytes(marker) if kind is Kind.BAD_JSON else _compact(event).encode()
        if shape == "array":
            if count := self._broken_count((2, 25), kinds, broken):
                return (_compact(self._broken_record(source, shape, count)) + " <trailing garbage>").encode()
            events = self._events(source, shape, (2, 25), bad_json=False, kinds=kinds)
            return _compact([event for _, _, event in events]).encode()
        if shape == "ndjson":
            lines = self._events(source, shape, (2, 25), bad_json=True, kinds=kinds)
            return ("\n".join(e if kind is Kind.BAD_JSON else _compact(e) for kind, _, e in lines) + "\n").encode()
        if shape == "gzip":
            if count := self._broken_count((5, 50), kinds, broken):
                # A gzip header with an unknown compression method, then the events in plain sight.
                inside = _compact(self._broken_record(source, shape, count)).encode()
                return b"\x1f\x8b\x07\x00\x00\x00\x00\x00\x00\xff" + inside
            events = self._events(source, shape, (5, 50), bad_json=False, kinds=kinds)
            return gzip.compress(_compact([event for _, _, event in events]).encode(), compresslevel=6, mtime=0)
        if shape == "kpl":
            subs = self._events(source, shape, (2, 20), bad_json=True, kinds=kinds)
            return kpl_aggregate(
                [self._bad_bytes(m) if kind is Kind.BAD_JSON else _compact(e).encode() for kind, m, e in subs]
            )
        if shape == "cloudwatch-logs":
            logs = self._events(source, shape, (2, 20), bad_json=True, kinds=kinds)
            messages = [e if kind is Kind.BAD_JSON else _compact(e) for kind, _, e in logs]
            return cloudwatch_logs_data(messages, first_id=self._n * 100, timestamp_ms=(self._now_s - 600) * 1000)
        raise ValueError(f"unknown Kinesis shape {shape!r}")

    def add_kinesis(self, shape: str) -> None:
        self.plan.kinesis_records.append((self.kinesis_data(shape), f"pk-{self._rng.randrange(10_000)}"))

    def add_kinesis_huge(self) -> None:
        """An event over 1 MiB in a gzip record: the stream's 1 MiB record limit holds it compressed."""
        marker = self._marker("kinesis", "gzip", Kind.OVER_1MIB)
        blob = "".join(self._rng.choice("abcdefgh") for _ in range(64)) * (MIB // 64 + 2048)
        properties = {"time": self._now_s - 60, "e2e_marker": marker, "distinct_id": "user-huge", "blob": blob}
        event = {"event": "Report Exported", "properties": properties}
        self.plan.kinesis_records.append((gzip.compress(_compact(event).encode(), mtime=0), "pk-huge"))

    def add_kinesis_huge_undecodable(self) -> None:
        """Close to the stream's 1 MiB record limit of binary garbage: parked whole, its base64 is larger."""
        marker = self._marker("kinesis", "plain", Kind.BAD_JSON)
        head = self._bad_bytes(marker)
        self.plan.kinesis_records.append((head + b"\xff" * (MIB - 64 - len(head)), "pk-huge"))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def build_plan(
    total_events: int,
    *,
    tag: str,
    seed: int,
    now_s: int,
    sqs_max_message_bytes: int,
    poison_rate: float = 0.05,
    huge_events: int = 1,
    shares: tuple[float, float] = (0.5, 0.15),
) -> Plan:
    """About `total_events` events: `shares` of them to the standard and FIFO queues, the rest to the stream,
    shapes drawn uniformly per record; plus, `huge_events` times, per source, an event over 1 MiB (where the
    source can hold one) and a record as large as the source takes that does not decode."""
    sqs_target = int(total_events * shares[0])
    fifo_target = int(total_events * shares[1])
    # A poison message holds its group until it is dead-lettered: enough groups keep a long run parallel.
    producer = Producer(
        tag=tag,
        seed=seed,
        poison_rate=poison_rate,
        now_s=now_s,
        sqs_max_message_bytes=sqs_max_message_bytes,
        fifo_groups=max(12, fifo_target // 50),
    )
    rng = random.Random(seed + 1)
    kinesis_target = total_events - sqs_target - fifo_target
    while producer.plan.count("sqs") < sqs_target:
        producer.add_sqs(rng.choice(SQS_SHAPES))
    while producer.plan.count("sqs-fifo") < fifo_target:
        producer.add_fifo(rng.choice(FIFO_SHAPES))
    while producer.plan.count("kinesis") < kinesis_target:
        producer.add_kinesis(rng.choice(KINESIS_SHAPES))
    for _ in range(huge_events):
        producer.add_sqs_huge()
        producer.add_sqs_huge_undecodable()
        producer.add_kinesis_huge()
        producer.add_kinesis_huge_undecodable()
    return producer.plan


# --- sending ---------------------------------------------------------------------------------------------


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
