"""What the formats share: ids, times and insert ids read from another vendor's fields, as Mixpanel takes them."""

from __future__ import annotations

from typing import Any

from ..errors import Inexact, Invalid
from ..limits import id_as_sent, maybe_rounded
from ..normalize import INVALID_IDS, derive_insert_id, is_insert_id
from ..timefmt import to_epoch_ms

_INSERT_ID_CHARS = 36


def identifier(message: dict[str, Any], field: str) -> str | int | None:
    """A user, device or group id from `field`: a non-empty string, or an integer as every endpoint gets it (its
    digits when a double cannot hold it: `limits.id_as_sent`); None when absent, null or empty."""
    value = message.get(field)
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if type(value) is int:
        return id_as_sent(value)
    if type(value) is float and maybe_rounded(value):
        # Perhaps an integer beyond 64 bits, read rounded: the record is read again exactly. Read so, it is a float
        # as written, which no id is either: the reason is true both ways.
        raise Inexact(field, "must be a string, or an integer written without a fraction or an exponent")
    raise Invalid(field, "must be a string")


def group_ids(value: Any) -> Any:
    """Group ids a message carries as a property (one, or a list) with integers as `identifier` gives them: the
    group's profile gets the same JSON (profiles.py)."""
    if type(value) is int:
        return id_as_sent(value)
    if type(value) is list:
        return [id_as_sent(each) if type(each) is int else each for each in value]
    return value


def first_time(message: dict[str, Any], fields: tuple[str, ...]) -> int | None:
    """Epoch milliseconds from the first of `fields` present (ISO-8601, or seconds or milliseconds since epoch);
    None when none is. An empty or blank string is absent (some mobile libraries send `"timestamp": ""`); a present
    value that is no time is refused, naming its field: it is never skipped for the next one, which would date the
    message by another clock without saying so."""
    for field in fields:
        value = message.get(field)
        if value is None:
            continue
        if type(value) is bool or (milliseconds := to_epoch_ms(value)) is None:
            if type(value) is str and not value.strip():
                continue  # tested only once no time was read: a time costs nothing more
            raise Invalid(field, "is not a time: it must be an ISO-8601 date and time")
        return milliseconds
    return None


def insert_id(value: Any) -> str | None:
    """Mixpanel's `$insert_id` for a source's message id: the id itself when Mixpanel takes it (at most 36 letters,
    digits and dashes, and no placeholder), else one derived from it, the same every time; None without an id."""
    if type(value) is int:
        value = str(value)
    if type(value) is not str or not value:
        return None
    if len(value) <= _INSERT_ID_CHARS and is_insert_id(value) and value.lower() not in INVALID_IDS:
        return value
    return derive_insert_id("message-id:" + value)


def copy_filled(source: Any, pairs: tuple[tuple[str, str], ...], into: dict[str, Any]) -> None:
    """`into[target] = source[field]` for each pair whose field `source` (an object) holds with a value, an empty
    string being none: RudderStack's destination drops `""` and null for every field it maps (`constructPayload`), as
    Mixpanel's JavaScript SDK strips empty ones."""
    if type(source) is not dict:
        return
    for field, target in pairs:
        value = source.get(field)
        if value or (value is not None and value != ""):  # most values are truthy: one test
            into[target] = value


def country_code(value: Any) -> str | None:
    """A two-letter country code, as Mixpanel stores `mp_country_code`; None for a country's name."""
    return value.upper() if type(value) is str and len(value) == 2 and value.isascii() and value.isalpha() else None
