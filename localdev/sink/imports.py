"""Mixpanel's /import rules: strict mode's checks on each event, in the order Mixpanel reports them, the key it
deduplicates on, and the answer that counts what was imported and lists what failed."""

from __future__ import annotations

import math
import re

from .answers import Answer, JsonObject, json_answer
from .rules import id_text, is_placeholder

_MIN_TIME_MS = 31_536_000_000  # 1971-01-01T00:00:00Z
_MAX_FUTURE_S = 3600.0
_MS_THRESHOLD = 1e11  # a `time` at or above this is in milliseconds (1e11 s is the year 5138)
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")

DedupKey = tuple[object, ...]


class Invalid(ValueError):
    """One event fails a strict-mode check: `field` and `message` go into failed_records."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def failure(index: int, insert_id: object, field: str, message: str) -> JsonObject:
    """One entry of failed_records."""
    return {
        "index": index,
        "$insert_id": insert_id if isinstance(insert_id, str) else "",
        "field": field,
        "message": message,
    }


def insert_id(event: object) -> object:
    """The event's `properties.$insert_id`, whatever it holds, or None."""
    properties = event.get("properties") if isinstance(event, dict) else None
    return properties.get("$insert_id") if isinstance(properties, dict) else None


def validate(index: int, event: object, now: float) -> tuple[JsonObject | None, DedupKey | None]:
    """(its failed_records entry, None) for an invalid event, (None, its dedup key) for a valid one."""
    try:
        return None, dedup_key(event, now)
    except Invalid as invalid:
        return failure(index, insert_id(event), invalid.field, invalid.message), None


def dedup_key(event: object, now: float) -> DedupKey:
    """Mixpanel's strict-mode checks, in the order it reports them; raises Invalid on the first failure."""
    if not isinstance(event, dict):
        raise Invalid("event", "each event must be a JSON object")
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise Invalid("event", "'event' must be a non-empty string")
    properties = event.get("properties")
    if not isinstance(properties, dict):
        raise Invalid("properties", "'properties' must be a JSON object")

    raw_time = properties.get("time")
    if raw_time is None:
        raise Invalid("properties.time", "'properties.time' is required")
    if isinstance(raw_time, bool) or not isinstance(raw_time, int | float) or not math.isfinite(raw_time):
        raise Invalid("properties.time", "'properties.time' must be a number of seconds or milliseconds since epoch")
    time_ms = round(raw_time) if raw_time >= _MS_THRESHOLD else round(raw_time * 1000)
    if time_ms < _MIN_TIME_MS:
        raise Invalid("properties.time", "'properties.time' is before 1971-01-01")
    if time_ms > (now + _MAX_FUTURE_S) * 1000:
        raise Invalid("properties.time", "'properties.time' is more than 1 hour in the future")

    event_insert_id = properties.get("$insert_id")
    if event_insert_id is None:
        raise Invalid("properties.$insert_id", "'properties.$insert_id' is required")
    if not isinstance(event_insert_id, str) or not _INSERT_ID.fullmatch(event_insert_id):
        raise Invalid("properties.$insert_id", "'properties.$insert_id' must be 1-36 characters of [A-Za-z0-9-]")
    if is_placeholder(event_insert_id):
        raise Invalid("properties.$insert_id", "'properties.$insert_id' is a placeholder value")

    distinct_id = properties.get("distinct_id")
    if "distinct_id" in properties and is_placeholder(distinct_id):
        raise Invalid("properties.distinct_id", "'properties.distinct_id' is a placeholder value")
    if distinct_id is not None:
        distinct_id = id_text(distinct_id)  # Mixpanel compares ids as strings
    return name, time_ms, distinct_id, event_insert_id


def imported_answer(imported: int, failed: list[JsonObject], *, report_failures: bool) -> Answer:
    """A 400 listing failed_records when there are some to report (strict mode), else a 200 with the count."""
    if failed and report_failures:
        payload = {
            "code": 400,
            "error": "some data points in the request failed validation",
            "failed_records": failed,
            "num_records_imported": imported,
            "status": "Bad Request",
        }
        return json_answer(400, payload)
    # non-strict: invalid events are dropped without a word, like Mixpanel does
    return json_answer(200, {"code": 200, "num_records_imported": imported, "status": "OK"})
