"""Mixpanel's ingestion rate limit, to scale: at most so many events and/or uncompressed bytes admitted per rolling
window of the sink's clock. Mixpanel's is "2GB of uncompressed JSON/minute or ~30k events per second, measured on a
rolling 1 minute basis", per project, answered 429 (docs.mixpanel.com/reference/rate-limits); the sink serves one
project, so one window. Its OpenAPI spec gives /import a 429 and /engage and /groups none: they are limited only
when named."""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
from collections.abc import Callable


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `events` events and/or `uncompressed_bytes` bytes admitted in any `window_s` seconds of the sink's
    clock, counted over the requests to `endpoints` together (for /engage and /groups, updates and body bytes)."""

    window_s: float
    events: int | None
    uncompressed_bytes: int | None
    endpoints: frozenset[str]

    def __post_init__(self) -> None:
        caps = [cap for cap in (self.events, self.uncompressed_bytes) if cap is not None]
        if not (math.isfinite(self.window_s) and self.window_s > 0) or not caps or min(caps) < 1 or not self.endpoints:
            raise ValueError(
                "a rate limit needs window_s > 0, events and/or uncompressed_bytes >= 1, and an endpoint; got "
                f"{self.window_s}, {self.events}, {self.uncompressed_bytes}, {sorted(self.endpoints)}"
            )


class RateLimiter:
    """The limit in force (or none) and what it admitted within the window: (time, events, bytes) entries, oldest
    first, with running sums, so a request costs O(1) amortised. Checking and admitting happen under one lock:
    concurrent requests never admit more than the limit between them."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limit: RateLimit | None = None
        self._admitted: collections.deque[tuple[float, int, int]] = collections.deque()
        self._events = 0
        self._bytes = 0
        self._latest = float("-inf")

    def set(self, limit: RateLimit | None) -> None:
        """Put `limit` in force (None: no limit), with an empty window."""
        with self._lock:
            self._limit = limit
            self._forget()

    def clear(self) -> None:
        """Empty the window; the limit stays in force."""
        with self._lock:
            self._forget()

    def admit(self, endpoint: str, events: int, size: int) -> bool:
        """Whether a request to `endpoint` with `events` events and `size` uncompressed bytes fits in the window,
        counting it if so. A request larger than the limit itself never fits; a refused one counts for nothing."""
        with self._lock:
            limit = self._limit
            if limit is None or endpoint not in limit.endpoints:
                return True
            # A clock stepped back (a wall clock adjusted) must not reorder the entries: the window only lasts longer.
            now = self._latest = max(self._clock(), self._latest)
            horizon = now - limit.window_s
            while self._admitted and self._admitted[0][0] <= horizon:
                _, expired_events, expired_bytes = self._admitted.popleft()
                self._events -= expired_events
                self._bytes -= expired_bytes
            if _over(limit.events, self._events + events) or _over(limit.uncompressed_bytes, self._bytes + size):
                return False
            self._admitted.append((now, events, size))
            self._events += events
            self._bytes += size
            return True

    def _forget(self) -> None:
        self._admitted.clear()
        self._events = self._bytes = 0


def _over(cap: int | None, total: int) -> bool:
    return cap is not None and total > cap
