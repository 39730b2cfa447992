"""Event times: seconds, milliseconds, numeric strings and ISO-8601 into epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Below this a number is seconds, above it milliseconds: 1e11 seconds is the year 5138, and 1e11
# milliseconds is 1973, before any event this forwarder will see (Mixpanel refuses pre-1971 times).
MILLIS_THRESHOLD = 100_000_000_000
_INFINITIES = (float("inf"), float("-inf"))


def to_epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds for a time value, or None when it is not a time."""
    kind = type(value)
    if kind is float or kind is int:  # first, by exact type: most times are numbers, and isinstance costs
        if -MILLIS_THRESHOLD < value < MILLIS_THRESHOLD:
            milliseconds: int = round(value * 1000)
            return milliseconds
        if value != value or value in _INFINITIES:
            return None
        return int(value)
    if kind is str:
        text = value.strip()
        if len(text) >= 10 and text[4] == "-" and text[:4].isdigit():
            return iso_to_ms(text)  # a date: float() would refuse it, and a raised error costs more than this test
        try:
            return to_epoch_ms(float(text)) if text else None
        except ValueError:
            return iso_to_ms(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return to_epoch_ms(float(value) if isinstance(value, float) else int(value))  # a subclass, as its base


def iso_to_ms(value: Any) -> int | None:
    """Epoch milliseconds of an ISO-8601 string (naive means UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def utc_text(epoch_s: float) -> str:
    """An epoch time as ISO-8601 UTC to the second, for a reason or a log line (`2025-11-24T16:00:00Z`)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
