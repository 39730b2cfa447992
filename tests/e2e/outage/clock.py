"""A wall clock running SCALE times faster than real time, shared by moto, the sink, the forwarder and the simulator,
so that hours of an outage pass in minutes with every ratio kept (visibility timeouts, function timeouts, backoff
caps, retention, record age): what the platform measures in seconds of its clock, the scaled clock measures; what
the function measures in real time (its deadline, request timeouts, sleeps between retries), its settings divide by
SCALE (containers.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ScaledClock:
    """Epoch seconds that start at the real time of creation (or `start`) and run `scale` times faster."""

    def __init__(self, scale: float, start: float | None = None) -> None:
        if not scale >= 1:
            raise ValueError(f"the scale must be at least 1, got {scale}")
        self.scale = scale
        self._real0 = time.monotonic()
        self.start = time.time() if start is None else start

    def now(self) -> float:
        return self.start + (time.monotonic() - self._real0) * self.scale

    def real(self, scaled_seconds: float) -> float:
        """How long `scaled_seconds` of this clock last in real time."""
        return scaled_seconds / self.scale

    def wait_until(self, when: float, stop: threading.Event, *, poll_s: float = 0.05) -> bool:
        """Waits until the clock reads `when` or `stop` is set; True if the time came."""
        while True:
            left = self.real(when - self.now())
            if left <= 0:
                return True
            if stop.wait(min(left, poll_s)):
                return False


def wait_for(condition: Callable[[], bool], *, stop: threading.Event, poll_s: float = 0.05) -> bool:
    """Waits until `condition()` holds or `stop` is set; True if it held."""
    while not condition():
        if stop.wait(poll_s):
            return False
    return True
