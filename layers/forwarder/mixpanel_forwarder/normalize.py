"""Items into Mixpanel events: time to epoch milliseconds, a deterministic `$insert_id`, `ip` = 0, and
the checks Mixpanel's strict mode would fail an event on, made before anything is sent."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from .model import Invalid, Item
from .timefmt import to_epoch_ms

# Mixpanel refuses times before 1971-01-01 and more than an hour ahead of its clock.
EARLIEST_TIME_MS = 31_536_000_000
FUTURE_SLACK_MS = 3_600_000
MAX_PROPERTIES = 255
MAX_NESTED_KEYS = 255  # objects' keys and lists' items alike
MAX_LIST_ITEMS = MAX_NESTED_KEYS
MAX_NESTING_DEPTH = 3
MAX_EVENT_BYTES = 1024 * 1024

# Placeholder values Mixpanel refuses as distinct_id and as $insert_id.
INVALID_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "<nil>",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
    }
)
_is_insert_id = re.compile(r"[A-Za-z0-9-]{1,36}").fullmatch
_LONGEST_INVALID_ID = max(map(len, INVALID_IDS))
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
_SHORT_PLACEHOLDER = max(len(value) for value in INVALID_IDS if value != _ZERO_UUID)
_MILLIS_THRESHOLD = 100_000_000_000  # as in timefmt: below, seconds; above, milliseconds
_MISSING = object()


def derive_insert_id(key: str) -> str:
    """32 hex characters from the item's source coordinates: the same on every redelivery."""
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def normalize(item: Item, now_ms: int) -> dict[str, Any]:
    """The event to send, or Invalid with the field and reason Mixpanel would give.

    This runs once per event and is most of the forwarder's CPU: common cases take the shortest path
    (exact type checks, no allocations), rare ones fall through to the general code.
    """
    if item.error is not None:
        raise Invalid("record", item.error)
    event = item.payload
    if type(event) is not dict:
        raise Invalid("event", f"must be a JSON object with event and properties, got {type(event).__name__}")
    name = event.get("event")
    if type(name) is not str or not name or (name[0].isspace() and not name.strip()):
        raise Invalid("event", "the event name must be a non-empty string")
    properties = event.get("properties")
    if type(properties) is not dict:
        if properties is not None:
            raise Invalid("properties", "must be a JSON object")
        properties = {}
    if len(event) != 2 or "properties" not in event:
        properties = _lift_top_level(event, properties)

    raw_time = properties.get("time")
    if type(raw_time) is int:
        time_ms = raw_time if raw_time >= _MILLIS_THRESHOLD else raw_time * 1000
    elif raw_time is None:
        if item.default_time_ms is None:
            raise Invalid("properties.time", "is missing and the source carries no timestamp")
        time_ms = item.default_time_ms
    else:
        converted = to_epoch_ms(raw_time)
        if converted is None:
            raise Invalid(
                "properties.time", f"must be seconds or milliseconds since epoch or ISO-8601, got {raw_time!r}"
            )
        time_ms = converted
    if time_ms < EARLIEST_TIME_MS:
        raise Invalid("properties.time", f"{time_ms} ms is before 1971-01-01")
    if time_ms > now_ms + FUTURE_SLACK_MS:
        raise Invalid("properties.time", f"{time_ms} ms is more than 1 hour in the future")

    distinct_id = properties.get("distinct_id", _MISSING)
    # Placeholders are at most 9 characters, or the all-zero UUID: most ids skip the lowercase lookup.
    if distinct_id is not _MISSING and (
        type(distinct_id) is not str or len(distinct_id) <= _SHORT_PLACEHOLDER or distinct_id == _ZERO_UUID
    ):
        _check_distinct_id(distinct_id)
    insert_id = properties.get("$insert_id")
    if insert_id is not None and (
        type(insert_id) is not str
        or not _is_insert_id(insert_id)
        or len(insert_id) <= _SHORT_PLACEHOLDER
        or insert_id == _ZERO_UUID
    ):
        _check_insert_id(insert_id)
    if len(properties) > MAX_PROPERTIES:
        raise Invalid("properties", f"has {len(properties)} properties, more than {MAX_PROPERTIES}")
    for value in properties.values():
        kind = type(value)
        if (kind is dict or kind is list) and not _nested_within_limits(value):
            _check_nested_properties(properties)  # raises, naming the offending path

    # Every check passed: only now change the event, so what is parked on failure is what arrived.
    properties["time"] = time_ms
    if insert_id is None:
        properties["$insert_id"] = derive_insert_id(item.key)
    if "ip" not in properties:
        properties["ip"] = 0  # otherwise Mixpanel geolocates every event to the function's AWS region
    return {"event": name, "properties": properties}


def normalize_common(event: dict[str, Any], now_ms: int) -> dict[str, Any] | None:
    """`normalize` for the common case in one step, or None to take the general path.

    The common case: exactly `event` and `properties`, a numeric `time`, the event's own valid
    `$insert_id` (longer than any placeholder) and a string `distinct_id` that is no placeholder. For
    such an event the result is exactly what `normalize` returns (a property test holds the two
    together); anything else, valid or not, returns None untouched, and `normalize` decides.
    """
    name = event.get("event")
    properties = event.get("properties")
    if type(properties) is not dict or type(name) is not str or not name or len(event) != 2 or name[0].isspace():
        return None
    time_ms = properties.get("time")
    if type(time_ms) is int:
        if time_ms < _MILLIS_THRESHOLD:
            time_ms *= 1000
    elif type(time_ms) is float:  # web SDKs send fractional seconds
        time_ms = to_epoch_ms(time_ms)
        if time_ms is None:
            return None
    else:
        return None
    if time_ms < EARLIEST_TIME_MS or time_ms > now_ms + FUTURE_SLACK_MS:
        return None
    insert_id = properties.get("$insert_id")
    if (
        type(insert_id) is not str
        or len(insert_id) <= _SHORT_PLACEHOLDER
        or insert_id == _ZERO_UUID
        or not _is_insert_id(insert_id)
    ):
        return None
    distinct_id = properties.get("distinct_id")
    if (
        type(distinct_id) is not str
        or distinct_id == _ZERO_UUID
        or (len(distinct_id) <= _SHORT_PLACEHOLDER and distinct_id.lower() in INVALID_IDS)
    ):
        return None
    if len(properties) > MAX_PROPERTIES:
        return None
    for value in properties.values():
        kind = type(value)
        if (kind is dict or kind is list) and not _nested_within_limits(value):
            return None
    properties["time"] = time_ms
    if "ip" not in properties:
        properties["ip"] = 0
    return event


def _lift_top_level(event: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """Flat events (`{"event", "distinct_id", "time", ...}`): top-level fields move into properties."""
    lifted = dict(properties)
    for key, value in event.items():
        if key in ("event", "properties"):
            continue
        if key in lifted and lifted[key] != value:
            raise Invalid(key, "is given both at the top level and in properties, with different values")
        lifted[key] = value
    return lifted


def _check_distinct_id(value: Any) -> None:
    kind = type(value)
    if kind is str:
        # Compared whole and case-insensitively, as Mixpanel lists them.
        if len(value) <= _LONGEST_INVALID_ID and value.lower() in INVALID_IDS:
            raise Invalid("properties.distinct_id", f"{value!r} is a placeholder Mixpanel refuses")
        return
    if kind is not int and kind is not float:
        raise Invalid("properties.distinct_id", f"must be a string or a number, got {kind.__name__}")
    if str(value) in INVALID_IDS:
        raise Invalid("properties.distinct_id", f"{value!r} is a placeholder Mixpanel refuses")


def _check_insert_id(value: Any) -> None:
    if type(value) is not str or not _is_insert_id(value):
        raise Invalid("properties.$insert_id", "must be 1 to 36 characters of A-Z, a-z, 0-9 and -")
    if value.lower() in INVALID_IDS:
        raise Invalid("properties.$insert_id", f"{value!r} is a placeholder Mixpanel refuses")


def _check_nested_properties(properties: dict[str, Any]) -> None:
    for key, value in properties.items():
        if isinstance(value, dict | list):
            _check_nested(key, value, 1)


def _nested_within_limits(value: Any) -> bool:
    """True when a property value nests at most 3 levels, each object or list with at most 255 entries.

    Unrolled on purpose: one call per nested property instead of one per container (list properties
    of objects, like order items, are common and this runs for every event).
    """
    if len(value) > MAX_NESTED_KEYS:
        return False
    for child in value.values() if type(value) is dict else value:
        child_kind = type(child)
        if child_kind is dict or child_kind is list:
            if len(child) > MAX_NESTED_KEYS:
                return False
            for grandchild in child.values() if child_kind is dict else child:
                grandchild_kind = type(grandchild)
                if grandchild_kind is dict or grandchild_kind is list:
                    if len(grandchild) > MAX_NESTED_KEYS:
                        return False
                    for leaf in grandchild.values() if grandchild_kind is dict else grandchild:
                        if type(leaf) is dict or type(leaf) is list:
                            return False  # a fourth level
    return True


def _check_nested(path: str, value: Any, depth: int) -> None:
    if depth > MAX_NESTING_DEPTH:
        raise Invalid(f"properties.{path}", f"nests deeper than {MAX_NESTING_DEPTH} levels")
    children: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        if len(value) > MAX_NESTED_KEYS:
            raise Invalid(f"properties.{path}", f"has {len(value)} keys, more than {MAX_NESTED_KEYS}")
        children = value.items()
    else:
        if len(value) > MAX_LIST_ITEMS:
            raise Invalid(f"properties.{path}", f"has {len(value)} items, more than {MAX_LIST_ITEMS}")
        children = enumerate(value)
    for key, child in children:
        if isinstance(child, dict | list):
            _check_nested(f"{path}.{key}", child, depth + 1)
