"""When to try a request again: exponential backoff with jitter, as Mixpanel advises, or a longer Retry-After."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from .settings import Settings

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


class Backoff:
    """Delay before attempt n+1: base × 2^(n-1) capped at the maximum, plus jitter (2 s, 4 s … 60 s, + 1–5 s)."""

    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self._base = settings.retry_base
        self._max = settings.retry_max
        self._jitter = (settings.retry_jitter_min, max(settings.retry_jitter_min, settings.retry_jitter_max))
        self._rng = rng or random.Random()

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """The backoff, or a longer Retry-After: one of 0 (or a date already past) must not turn the backoff off,
        or a server answering every 429 so would get each request's attempts back to back."""
        # The exponent is capped: 2.0 ** 1024 overflows, and a container probing through a day-long outage counts
        # over a thousand failed probes (availability.py). Past 2 ** 64 any base is past any maximum.
        exponential: float = min(self._max, self._base * 2.0 ** min(max(attempt - 1, 0), 64))
        backoff = exponential + self._rng.uniform(*self._jitter)
        honoured = parse_retry_after(retry_after)
        return backoff if honoured is None else max(honoured, backoff)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a year, hour or offset past any C integer
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
