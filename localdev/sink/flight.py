"""Requests in flight at the sink: how many each endpoint is answering now and the most at once, and a pause that
holds requests once read, unanswered, until resumed, so a test can see how many a client keeps in flight without
relying on how fast anything runs. Thread-safe."""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Iterable, Iterator

_PAUSE_POLL_S = 0.05  # a held request also wakes this often, to notice the sink stopping


class Flight:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._now: collections.Counter[str] = collections.Counter()
        self._peak: collections.Counter[str] = collections.Counter()
        self._paused: frozenset[str] = frozenset()

    @contextlib.contextmanager
    def request(self, endpoint: str, stopping: threading.Event) -> Iterator[None]:
        """One request to `endpoint` from the moment it was read until its answer is out (held first while paused)."""
        with self._condition:
            self._now[endpoint] += 1
            self._peak[endpoint] = max(self._peak[endpoint], self._now[endpoint])
            self._condition.notify_all()
            while endpoint in self._paused and not stopping.is_set():
                self._condition.wait(_PAUSE_POLL_S)
        try:
            yield
        finally:
            with self._condition:
                self._now[endpoint] -= 1
                self._condition.notify_all()

    def now(self, endpoint: str) -> int:
        with self._condition:
            return self._now[endpoint]

    def peak(self, endpoint: str) -> int:
        with self._condition:
            return self._peak[endpoint]

    def reset_peak(self) -> None:
        """From now on, the peak counts from what is in flight now."""
        with self._condition:
            self._peak = collections.Counter(self._now)

    def pause(self, endpoints: Iterable[str] = ("/import",)) -> None:
        with self._condition:
            self._paused = frozenset(endpoints)

    def resume(self) -> None:
        with self._condition:
            self._paused = frozenset()
            self._condition.notify_all()

    def wait_for(self, count: int, endpoint: str, timeout: float) -> bool:
        """Whether `count` requests to `endpoint` were in flight at once within `timeout` seconds."""
        with self._condition:
            return self._condition.wait_for(lambda: self._now[endpoint] >= count, timeout)
