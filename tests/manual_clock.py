"""A clock a test moves by hand, for the sink's `clock` (its handler threads read it: every step is locked)."""

from __future__ import annotations

import threading


class ManualClock:
    """Now is `start` until the test moves it (`at`, `advance`); `tick` moves it on at each read; `reads` counts
    them, so a test can see that a held request is still reading the clock."""

    def __init__(self, start: float, tick: float = 0.0) -> None:
        self.start = start
        self.now = start
        self.reads = 0
        self._tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            now = self.now
            self.now += self._tick
            self.reads += 1
            return now

    def at(self, offset: float) -> None:
        """Now is `offset` seconds after the start."""
        with self._lock:
            self.now = self.start + offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
