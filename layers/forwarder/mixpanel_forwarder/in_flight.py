"""How many `/import` requests a container keeps in flight: fewer after Mixpanel's 429s, more again as requests are
accepted (additive increase, multiplicative decrease, as TCP meets losses).

Mixpanel's rate limit is per project, answered 429 without a Retry-After, and it advises 10-20 concurrent clients
(docs/delivery.md cites it). The per-request backoff (retry.py) spaces one request's attempts; this
spaces the container's requests, which would otherwise meet each 429 as many at a time as before. One limit lives in
the Forwarder, shared by its invocations and their sender threads (a request can outlive its invocation).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Slot:
    """One request's place in flight: the epoch it was sent in, and whether it had to wait for it."""

    __slots__ = ("epoch", "waited")

    def __init__(self, epoch: int, waited: bool) -> None:
        self.epoch = epoch
        self.waited = waited


class InFlightLimit:
    """At most `limit` requests in flight, from 1 to `maximum`, starting at the maximum.

    A 429 halves the limit once per congestion epoch: a 429 answering a request sent before the last decrease says
    nothing the decrease did not already act on, so it does not halve again. `limit` accepted requests in a row (no
    429 between them; other answers neither count nor break the run) raise it by one. Thread-safe.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._limit = maximum
        self._in_flight = 0
        self._epoch = 0  # decreases so far
        self._accepted = 0  # accepted in a row since the last change
        self._low = maximum  # the lowest limit since mark()
        self._condition = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def mark(self) -> None:
        """From now on, `low` is the lowest limit from this moment (an invocation's start)."""
        with self._condition:
            self._low = self._limit

    @property
    def low(self) -> int:
        """The lowest the limit has been since mark()."""
        return self._low

    def acquire(self, time_left: Callable[[], float]) -> Slot | None:
        """A place for one request, waiting while the limit is reached; None when `time_left()` runs out first."""
        with self._condition:
            waited = False
            while self._in_flight >= self._limit:
                left = time_left()
                if left <= 0:
                    return None
                waited = True
                self._condition.wait(left)
            self._in_flight += 1
            return Slot(self._epoch, waited)

    def release(self, slot: Slot, *, throttled: bool = False, accepted: bool = False) -> None:
        """The request of `slot` ended: answered 429 (`throttled`), accepted by Mixpanel, or anything else."""
        with self._condition:
            self._in_flight -= 1
            if throttled:
                self._accepted = 0
                if slot.epoch == self._epoch:
                    self._epoch += 1
                    self._limit = max(1, self._limit // 2)
                    self._low = min(self._low, self._limit)
            elif accepted and self._limit < self.maximum:
                self._accepted += 1
                if self._accepted >= self._limit:
                    self._accepted = 0
                    self._limit += 1
            self._condition.notify_all()  # a place is free, and perhaps more than one if the limit rose
