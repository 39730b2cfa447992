"""The benchmark's Lambda invocations, built from seeded events and profile updates, and statistics that show how
realistic their data is.

Each shape is kept as the JSON the Lambda runtime receives; `HEADLINE` is the one the headline figures quote. The
data itself comes from `bench.events` and `bench.updates`, and for issue 12's cases from `bench.segment` (Segment
`track` messages) and `bench.transformed` (Mixpanel events for the seven-rule TRANSFORMS).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import transformed
from bench.events import make_events
from bench.segment import as_mixpanel, make_tracks
from bench.updates import MIX, kind_counts, make_messages
from bench.vocabulary import SEED, T0_S
from localdev import eventgen

RECORDS = 2000  # records per invocation: a large batch (the template's mappings default to 1000)
EVENTS_PER_ARRAY_BODY = 3  # events per SQS body / KPL aggregate: 2000 records stay under Lambda's 6 MB payload
MEMORY_RECORDS = 10_000  # SQS's largest batch, for the peak-memory check


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Shape:
    """One invocation, kept as the JSON the Lambda runtime receives: each run decodes a fresh copy of it."""

    name: str
    label: str
    source: str  # "sqs" or "kinesis": which handler takes it
    records: int
    events: int
    payload: bytes
    users: int = 0  # user profile updates, beside the events
    groups: int = 0  # group profile updates
    # Issue 12: the messages' format (as PAYLOAD_FORMAT names it), the forwarder's settings beyond the sink's
    # (TRANSFORMS), and the messages those filter out, by rule: `events` are the rest, all the sink should get.
    payload_format: str = "mixpanel"
    settings: tuple[tuple[str, str], ...] = ()
    filtered_by: dict[str, int] = field(default_factory=dict)

    @property
    def filtered(self) -> int:
        return sum(self.filtered_by.values())

    @property
    def messages(self) -> int:
        """Events, updates and filtered messages, all that arrived: what CPU is counted per."""
        return self.events + self.users + self.groups + self.filtered

    @property
    def plain(self) -> bool:
        """Mixpanel events only, under the default settings: what naive and floor forward too."""
        return not (self.users or self.groups or self.settings or self.payload_format != "mixpanel")

    def message_bytes(self) -> float | None:
        """The mean size of a message as it arrived (an SQS body); None for Kinesis, whose records are encoded."""
        if self.source != "sqs":
            return None
        bodies = [record["body"] for record in self.event()["Records"]]
        return sum(len(body.encode()) for body in bodies) / len(bodies)

    def event(self) -> dict[str, Any]:
        """A fresh decoded invocation event, as the runtime hands it to the handler."""
        decoded: dict[str, Any] = json.loads(self.payload)
        return decoded


def _sent_ms(i: int) -> int:
    return T0_S * 1000 + i * 7


def _sqs_single(events: list[dict[str, Any]]) -> dict[str, Any]:
    records = [eventgen.sqs_record(compact(e), index=i, sent_timestamp_ms=_sent_ms(i)) for i, e in enumerate(events)]
    return eventgen.sqs_event(records)


def _groups(events: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def _sqs_array(events: list[dict[str, Any]]) -> dict[str, Any]:
    groups = _groups(events, EVENTS_PER_ARRAY_BODY)
    return eventgen.sqs_event(
        [eventgen.sqs_record(compact(g), index=i, sent_timestamp_ms=_sent_ms(i)) for i, g in enumerate(groups)]
    )


def _sqs_sns(events: list[dict[str, Any]]) -> dict[str, Any]:
    return eventgen.sqs_event(
        [
            eventgen.sqs_record(eventgen.sns_envelope(compact(e), index=i), index=i, sent_timestamp_ms=_sent_ms(i))
            for i, e in enumerate(events)
        ]
    )


def _kinesis_plain(events: list[dict[str, Any]]) -> dict[str, Any]:
    return eventgen.kinesis_event([eventgen.kinesis_record(compact(e).encode(), index=i) for i, e in enumerate(events)])


def _kinesis_kpl(events: list[dict[str, Any]]) -> dict[str, Any]:
    records = []
    for i, group in enumerate(_groups(events, EVENTS_PER_ARRAY_BODY)):
        keys = [str(e["properties"]["distinct_id"]) for e in group]
        data = eventgen.kpl_aggregate([compact(e).encode() for e in group], partition_keys=keys)
        records.append(eventgen.kinesis_record(data, index=i, partition_key=keys[0]))
    return eventgen.kinesis_event(records)


_BUILDERS: tuple[tuple[str, str, str, int, Callable[[list[dict[str, Any]]], dict[str, Any]]], ...] = (
    ("sqs_single", "SQS, one event per body", "sqs", 1, _sqs_single),
    ("sqs_array", f"SQS, JSON array of {EVENTS_PER_ARRAY_BODY} per body", "sqs", EVENTS_PER_ARRAY_BODY, _sqs_array),
    ("sqs_sns", "SQS ← SNS envelope", "sqs", 1, _sqs_sns),
    ("kinesis_plain", "Kinesis, one event per record", "kinesis", 1, _kinesis_plain),
    (
        "kinesis_kpl",
        f"Kinesis KPL, {EVENTS_PER_ARRAY_BODY} per aggregate",
        "kinesis",
        EVENTS_PER_ARRAY_BODY,
        _kinesis_kpl,
    ),
)
HEADLINE = "sqs_single"
# Invocations with profile updates, one message per SQS body (after the events-only ones; only ours forwards
# updates): issue 11's mix, and each kind of update alone, which splits the mix's CPU by kind.
MIXED = "sqs_mixed"
_MIXES: tuple[tuple[str, str, dict[str, float]], ...] = (
    (MIXED, "SQS, mixed events and profile updates", MIX),
    ("sqs_users", "SQS, user updates only", {"user": 1.0}),
    ("sqs_groups", "SQS, group updates only", {"group": 1.0}),
)
# Issue 12, ours only, SQS one message per body, compared with the headline (ours) in each round: Segment `track`
# messages (PAYLOAD_FORMAT auto, the default, recognises them), and Mixpanel events under the TRANSFORMS.
SEGMENT = "sqs_segment"
SEGMENT_EVENTS = "sqs_segment_events"
SEGMENT_AGENTS = "sqs_segment_agents"  # issue 21: the same tracks, every one with a user agent to parse
TRANSFORMED = "sqs_transforms"
AGAINST_HEADLINE = (SEGMENT, SEGMENT_EVENTS, SEGMENT_AGENTS, TRANSFORMED)
# A format's case beside the same events in Mixpanel's shape, forwarded on the plain path: what the format costs.
IN_MIXPANEL_SHAPE = {SEGMENT: SEGMENT_EVENTS}


def build_shapes(records: int = RECORDS, names: tuple[str, ...] | None = None) -> list[Shape]:
    """Every invocation shape of `records` records; all draw on the same seeded event sequence."""
    most = max(per for *_, per, _ in _BUILDERS)
    events = make_events(records * most)
    shapes = []
    for name, label, source, per_record, build in _BUILDERS:
        if names is not None and name not in names:
            continue
        chosen = events[: records * per_record]
        payload = compact(build(chosen)).encode()
        shapes.append(Shape(name, label, source, records, len(chosen), payload))
    for name, label, shares in _MIXES:
        if names is not None and name not in names:
            continue
        counts = kind_counts(records, shares)
        payload = compact(_sqs_single(make_messages(records, shares))).encode()
        shapes.append(Shape(name, label, "sqs", records, counts["event"], payload, counts["user"], counts["group"]))
    if names is None or SEGMENT in names:
        payload = compact(_sqs_single(make_tracks(records))).encode()
        shapes.append(Shape(SEGMENT, "SQS, Segment track messages", "sqs", records, records, payload, 0, 0, "segment"))
    if names is None or SEGMENT_AGENTS in names:
        payload = compact(_sqs_single(make_tracks(records, user_agents=True))).encode()
        label = "SQS, Segment track messages, each with a user agent"
        shapes.append(Shape(SEGMENT_AGENTS, label, "sqs", records, records, payload, 0, 0, "segment"))
    if names is None or SEGMENT_EVENTS in names:
        payload = compact(_sqs_single(as_mixpanel(make_tracks(records)))).encode()
        label = "SQS, the Segment tracks' events in Mixpanel's shape"
        shapes.append(Shape(SEGMENT_EVENTS, label, "sqs", records, records, payload))
    if names is None or TRANSFORMED in names:
        chosen = transformed.make_events_for_rules(records)
        dropped = transformed.filtered(chosen)
        payload = compact(_sqs_single(chosen)).encode()
        settings = tuple(transformed.ENV.items())
        sent = records - sum(dropped.values())
        label = "SQS, Mixpanel events under TRANSFORMS (7 rules)"
        shapes.append(Shape(TRANSFORMED, label, "sqs", records, sent, payload, 0, 0, "mixpanel", settings, dropped))
    return shapes


def memory_shape(records: int = MEMORY_RECORDS) -> Shape:
    """The largest SQS batch: `records` single-event bodies."""
    events = make_events(records, seed=SEED + 1)
    return Shape(
        f"sqs_single_{records}",
        "SQS, one event per body",
        "sqs",
        records,
        records,
        compact(_sqs_single(events)).encode(),
    )


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return "".join(compact(e) + "\n" for e in events).encode()


def _depth(value: Any) -> int:
    """How many levels of objects and lists a value nests (Mixpanel takes 3): 0 for a string or number."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _time_format(value: Any) -> str:
    if isinstance(value, str):
        return "numeric string" if value.isdigit() else "ISO-8601"
    if isinstance(value, float):
        return "seconds (float)"
    return "milliseconds" if value >= 100_000_000_000 else "seconds (int)"


def _shapes(properties: dict[str, Any]) -> set[str]:
    """The less common shapes one event's properties have."""
    values = properties.values()
    shapes = set()
    if any(value is None for value in values):
        shapes.add("null value")
    lists = [value for value in values if isinstance(value, list)]
    if any(all(type(item) in (int, float) for item in value) for value in lists):
        shapes.add("list of numbers")
    if any(any(isinstance(item, dict) for item in value) for value in lists):
        shapes.add("list of objects")
    depth = max((_depth(value) for value in values if isinstance(value, dict)), default=0)
    if depth:
        shapes.add("nested object")
    if depth >= 3:
        shapes.add("nesting depth 3")
    if "$insert_id" not in properties:
        shapes.add("no $insert_id")
    return shapes


_SHAPES = ("null value", "list of numbers", "list of objects", "nested object", "nesting depth 3", "no $insert_id")
_TIME_FORMATS = ("seconds (int)", "seconds (float)", "milliseconds", "numeric string", "ISO-8601")


@dataclass(frozen=True)
class DataStats:
    """How realistic the data is: event size, how well it compresses (templated data compresses to ~5%), and
    the share of events with each less common shape (`mix`) and each format of `time` (`time_formats`)."""

    events: int
    mean_event_bytes: float
    mean_properties: float
    gzip_l1: float
    gzip_l6: float
    gzip_default: float
    mix: dict[str, float]
    time_formats: dict[str, float]


def data_stats(events: list[dict[str, Any]]) -> DataStats:
    body = ("[" + ",".join(compact(e) for e in events) + "]").encode()
    size = len(body)
    shapes = [_shapes(e["properties"]) for e in events]
    times = [_time_format(e["properties"]["time"]) for e in events]
    return DataStats(
        events=len(events),
        mean_event_bytes=size / len(events),
        mean_properties=sum(len(e["properties"]) for e in events) / len(events),
        gzip_l1=len(zlib.compress(body, 1)) / size,
        gzip_l6=len(zlib.compress(body, 6)) / size,
        gzip_default=len(gzip.compress(body)) / size,
        mix={name: sum(name in one for one in shapes) / len(events) for name in _SHAPES},
        time_formats={name: times.count(name) / len(events) for name in _TIME_FORMATS},
    )
