"""Items into Mixpanel events: time to epoch milliseconds, a deterministic `$insert_id`, `ip` = 0, and
the checks Mixpanel's strict mode would fail an event on, made before anything is sent."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .errors import Invalid
from .identity import identify
from .limits import MAX_EVENT_BYTES as MAX_EVENT_BYTES  # re-exported: the forwarder checks encoded events
from .limits import MAX_EXACT_DOUBLE_INT as MAX_EXACT_DOUBLE_INT  # re-exported: where the rule on ids was first
from .limits import MAX_PROPERTIES, SCANNED, check_values, nested_ok
from .model import ID_MERGE_SIMPLIFIED, Item, excerpt, key_name
from .timefmt import MILLIS_THRESHOLD, to_epoch_ms

# Mixpanel refuses times before 1971-01-01 and more than an hour ahead of its clock.
EARLIEST_TIME_MS = 31_536_000_000
FUTURE_SLACK_MS = 3_600_000
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
is_insert_id = re.compile(r"[A-Za-z0-9-]{1,36}").fullmatch  # a match, or None
_LONGEST_INVALID_ID = max(map(len, INVALID_IDS))
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
_SHORT_PLACEHOLDER = max(len(value) for value in INVALID_IDS if value != _ZERO_UUID)
_MISSING = object()
# An event name starting with one of these takes the general path: "$" (Mixpanel's own events), or what
# str.isspace() calls whitespace (the name may be blank; a test holds this list to isspace on every code point).
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_GENERAL_FIRST = frozenset(_WHITESPACE + "$")
_NEAR_MAX_PROPERTIES = MAX_PROPERTIES - 3  # time, $insert_id and ip may be added


def is_placeholder(text: str) -> bool:
    """Whether an id's text is one of the placeholders Mixpanel refuses, compared whole and case-insensitively."""
    return len(text) <= _LONGEST_INVALID_ID and text.lower() in INVALID_IDS


def derive_insert_id(key: str) -> str:
    """32 hex characters from the item's source coordinates: the same on every redelivery."""
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def normalize(item: Item, now_ms: int, exact: bool = False, id_merge: str = ID_MERGE_SIMPLIFIED) -> dict[str, Any]:
    """The event to send, or Invalid with the field and reason Mixpanel would give.

    This runs once per event and is most of the forwarder's CPU: common cases take the shortest path
    (exact type checks, no allocations), rare ones fall through to the general code.

    Big numbers: an item read by orjson (`exact` False) with a float that may be a rounded integer
    beyond 64 bits raises Inexact, and the caller reads it again with `codec.loads_exact`. Read so
    (`exact` True), floats are floats as written and integers are exact: one beyond 64 bits is refused,
    but an integer `distinct_id` beyond 2**53 is sent as its digits, a string (in either mode).
    """
    if item.error is not None:
        raise Invalid("record", item.error)
    event = item.payload
    if type(event) is not dict:
        raise Invalid("event", f"must be a JSON object with event and properties, got {_json_type(event)}")
    name = event.get("event")
    if type(name) is not str or not name or (name[0].isspace() and not name.strip()):
        raise Invalid("event", "the event name must be a non-empty string")
    properties = event.get("properties")
    if type(properties) is not dict:
        if properties is not None:
            raise Invalid("properties", "must be a JSON object")
        properties = {}
    if len(event) != 2 or "properties" not in event:
        properties = lift_top_level(event, properties)
    # Only Mixpanel's own events ($…) and those without distinct_id have anything to be identified by.
    derived_id = identify(name, properties, id_merge) if name[0] == "$" or "distinct_id" not in properties else None

    raw_time = properties.get("time")
    if type(raw_time) is int:
        time_ms = raw_time if raw_time >= MILLIS_THRESHOLD else raw_time * 1000
    elif raw_time is None:
        if item.default_time_ms is None:
            raise Invalid("properties.time", "is missing and the source carries no timestamp")
        time_ms = item.default_time_ms
    else:
        converted = to_epoch_ms(raw_time)
        if converted is None:
            # No value quoted, here or below: reasons stay short and free of payload, and alike
            # events share one line of the summary. The parked event holds the value.
            raise Invalid(
                "properties.time",
                f"must be seconds or milliseconds since epoch, or an ISO-8601 string; got {_json_type(raw_time)}",
            )
        time_ms = converted
    if time_ms < EARLIEST_TIME_MS:
        raise Invalid("properties.time", "is before 1971-01-01")
    if time_ms > now_ms + FUTURE_SLACK_MS:
        raise Invalid("properties.time", "is more than 1 hour in the future")

    distinct_id = properties.get("distinct_id", _MISSING)
    id_digits = None
    # Placeholders are at most 9 characters, or the all-zero UUID: most ids skip the lowercase lookup.
    if distinct_id is not _MISSING and (
        type(distinct_id) is not str or len(distinct_id) <= _SHORT_PLACEHOLDER or distinct_id == _ZERO_UUID
    ):
        id_digits = _check_distinct_id(distinct_id)
    insert_id = properties.get("$insert_id")
    if insert_id is not None and (
        type(insert_id) is not str
        or not is_insert_id(insert_id)
        or len(insert_id) <= _SHORT_PLACEHOLDER
        or insert_id == _ZERO_UUID
    ):
        _check_insert_id(insert_id)
    if len(properties) > _NEAR_MAX_PROPERTIES:  # only then count what is sent, with what is added
        sent = len(properties) + ("time" not in properties) + ("$insert_id" not in properties)
        sent += "ip" not in properties
        if sent > MAX_PROPERTIES:
            raise Invalid(
                "properties",
                f"has {sent} properties with time, $insert_id and ip; Mixpanel takes fewer than {MAX_PROPERTIES + 1}",
            )
    check_values(properties, exact)

    # Every check passed: only now change the event, so what is parked on failure is what arrived.
    properties["time"] = time_ms
    if id_digits is not None:
        properties["distinct_id"] = id_digits
    elif derived_id is not None:
        properties["distinct_id"] = derived_id
    if insert_id is None:
        properties["$insert_id"] = derive_insert_id(item.key)
    if "ip" not in properties:
        properties["ip"] = 0  # otherwise Mixpanel geolocates every event to the function's AWS region
    return {"event": name, "properties": properties}


def normalize_common(event: dict[str, Any], item: Item, now_ms: int) -> dict[str, Any] | None:
    """`normalize` for the common case in one step, or None to take the general path.

    The common case: exactly `event` and `properties`; a `time` that is a number, a numeric or ISO-8601
    string, or missing where the source has a timestamp; a valid `$insert_id` longer than any placeholder,
    or none (one is derived); and a string `distinct_id` that is no placeholder. For such an event the
    result is exactly what `normalize` returns (a property test holds the two together); anything else,
    valid or not, returns None untouched, and `normalize` decides.
    """
    name = event.get("event")
    properties = event.get("properties")
    if type(properties) is not dict or type(name) is not str or not name or len(event) != 2:
        return None
    if name[0] in _GENERAL_FIRST:  # perhaps blank; or Mixpanel's own ($identify, …), which has rules of its own
        return None
    time_ms = properties.get("time")
    if type(time_ms) is int:
        if time_ms < MILLIS_THRESHOLD:
            time_ms *= 1000
    elif type(time_ms) is float or type(time_ms) is str:  # web SDKs send fractional seconds; pipelines text
        time_ms = to_epoch_ms(time_ms)
        if time_ms is None:
            return None
    elif time_ms is None:
        time_ms = item.default_time_ms
        if time_ms is None:
            return None
    else:
        return None
    if time_ms < EARLIEST_TIME_MS or time_ms > now_ms + FUTURE_SLACK_MS:
        return None
    insert_id = properties.get("$insert_id")
    if insert_id is not None and (
        type(insert_id) is not str
        or len(insert_id) <= _SHORT_PLACEHOLDER
        or insert_id == _ZERO_UUID
        or not is_insert_id(insert_id)
    ):
        return None
    distinct_id = properties.get("distinct_id")
    if (
        type(distinct_id) is not str
        or distinct_id == _ZERO_UUID
        or (len(distinct_id) <= _SHORT_PLACEHOLDER and distinct_id.lower() in INVALID_IDS)
    ):
        return None
    # Counted as sent, with what is added.
    if len(properties) > _NEAR_MAX_PROPERTIES:
        sent = len(properties) + ("time" not in properties) + ("$insert_id" not in properties)
        if sent + ("ip" not in properties) > MAX_PROPERTIES:
            return None
    for value in properties.values():
        # One set lookup for the common string or integer; type() again for the rest (cheaper than a
        # store for every value); -(2.0**63), 2.0**63 are MAYBE_ROUNDED as constants folded at compile time.
        if type(value) in SCANNED:
            if type(value) is float:
                if not -(2.0**63) < value < 2.0**63:
                    return None  # perhaps an integer beyond 64 bits, rounded by orjson
            elif not nested_ok(value):
                return None
    # Added in normalize's order, so that both send the same bytes.
    properties["time"] = time_ms
    if insert_id is None:
        properties["$insert_id"] = derive_insert_id(item.key)
    if "ip" not in properties:
        properties["ip"] = 0
    return event


def lift_top_level(event: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """Flat events (`{"event", "distinct_id", "time", ...}`): top-level fields move into properties."""
    lifted = dict(properties)
    for key, value in event.items():
        if key in ("event", "properties"):
            continue
        if key in lifted and lifted[key] != value:
            raise Invalid(key_name(key), "is given both at the top level and in properties, with different values")
        lifted[key] = value
    return lifted


def _check_distinct_id(value: Any) -> str | None:
    """Raises Invalid for an id Mixpanel refuses; returns the digits of an integer id a double cannot hold."""
    kind = type(value)
    if kind is str:
        if is_placeholder(value):
            raise Invalid("properties.distinct_id", f"{excerpt(value)} is a placeholder Mixpanel refuses")
        return None
    if kind is not int and kind is not float:
        raise Invalid("properties.distinct_id", f"must be a string or a number, got {_json_type(value)}")
    if kind is int and not -MAX_EXACT_DOUBLE_INT <= value <= MAX_EXACT_DOUBLE_INT:
        return str(value)  # exact here; Mixpanel would round it, merging users (limits.id_as_sent)
    if str(value) in INVALID_IDS:
        raise Invalid("properties.distinct_id", f"{excerpt(value)} is a placeholder Mixpanel refuses")
    return None


def _check_insert_id(value: Any) -> None:
    if type(value) is not str or not is_insert_id(value):
        raise Invalid("properties.$insert_id", "must be a string of 1 to 36 characters of A-Z, a-z, 0-9 and -")
    if value.lower() in INVALID_IDS:
        raise Invalid("properties.$insert_id", f"{excerpt(value)} is a placeholder Mixpanel refuses")


def _json_type(value: Any) -> str:
    """What a value is, in JSON's words: reasons say so instead of quoting it."""
    return _JSON_TYPES.get(type(value), f"a {type(value).__name__}")


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}
