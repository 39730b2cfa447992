"""Events for the end-to-end producers: realistic valid ones whose time, `$insert_id` and layout vary the way real
producers vary them, and poison ones with exactly one defect, each carrying its marker in `properties.e2e_marker`
(and most also as `$insert_id`), or in plain sight in text and bytes that are not JSON at all."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from localdev.eventgen import sample_event
from tests.e2e.plan import Kind
from tests.e2e.updates import PLACEHOLDERS

_EPOCH_1960_S = -315_619_200


class EventMaker:
    """Draws events from `rng`, their times within the three days before `now_s`."""

    def __init__(self, rng: random.Random, now_s: int) -> None:
        self._rng = rng
        self._now_s = now_s

    def valid(self, marker: str, n: int) -> dict[str, Any]:
        """Event number `n`, with its marker."""
        rng = self._rng
        time_s = self._now_s - rng.randint(60, 3 * 86_400)
        event = sample_event(n, time_s=time_s)
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

    def poison(self, kind: Kind, marker: str, n: int) -> dict[str, Any]:
        """A valid event with exactly one defect, so the field it is refused on is known in advance."""
        event = self.valid(marker, n)
        if "properties" not in event:
            event = {"event": event.pop("event"), "properties": event}
        properties = event["properties"]
        if kind is Kind.NO_NAME:
            del event["event"]
        elif kind is Kind.TOO_OLD:
            properties["time"] = _EPOCH_1960_S + n
        elif kind is Kind.PLACEHOLDER_ID:
            properties["distinct_id"] = self._rng.choice(PLACEHOLDERS)
        elif kind is Kind.BAD_INSERT_ID:
            properties["$insert_id"] = self._rng.choice([f"bad id {marker}", "x" * 37, f"{marker}!"])
        elif kind is Kind.TOO_MANY_PROPERTIES:
            properties.update({f"p{k:03d}": k for k in range(256)})
        elif kind is Kind.TOO_DEEP:
            properties["nested"] = {"a": {"b": {"c": {"marker": marker}}}}
        else:
            raise ValueError(f"{kind} is not a JSON-level defect of an event")
        return event


def huge_event(marker: str, now_s: int, size: int, blob: str | None = None) -> str:
    """An event's JSON with a `blob` property: `blob`, or as long as makes the JSON `size` bytes."""
    properties: dict[str, Any] = {"time": now_s - 60, "e2e_marker": marker, "distinct_id": "user-huge", "blob": ""}
    event = {"event": "Report Exported", "properties": properties}
    properties["blob"] = blob if blob is not None else "x" * (size - len(_compact(event)))
    text = _compact(event)
    assert blob is not None or len(text.encode()) == size
    return text


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def bad_text(marker: str) -> str:
    """A truncated JSON event: not JSON, one line, the marker in plain sight."""
    return f'{{"event": "Order Completed", "properties": {{"e2e_marker": "{marker}", "amount": 42.5, "items": ['


def bad_bytes(marker: str) -> bytes:
    """Binary garbage (not UTF-8, no newline) with the marker embedded."""
    return b"\x00\x01\xfe\xffbinary:" + marker.encode() + b"\xc3\x28\x80"
