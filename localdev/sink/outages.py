"""Scheduled unavailability: windows of the sink's clock in which Mixpanel's endpoints answer as a load balancer with
no server behind it does (a 503 or 502 HTML page), reset the connection, or hang until the window ends; a flapping
window goes down and up in turn. Each request in a window is logged with the fault `outage:<503|502|reset|hang>`."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from collections.abc import Callable
from typing import Literal

from .answers import Answer, html

OutageMode = Literal["5xx", "reset", "hang", "mixed"]
MODES: tuple[OutageMode, ...] = ("5xx", "reset", "hang", "mixed")
_STATUSES = (503, 502)  # a 5xx outage answers these in turn, as a balancer with no healthy target does


@dataclasses.dataclass(frozen=True, slots=True)
class Outage:
    """One scheduled window, from `start` until (not including) `end` on the sink's clock, for `endpoints` (None:
    all three). `mode`: `5xx` (503 and 502 in turn), `reset`, `hang` (then 503; for at most `hang_s` of the sink's
    clock when given), or `mixed` (each request one of those, drawn from `seed`). With `down_s` and `up_s` it flaps:
    down for `down_s`, up for `up_s`, from `start` on. `requests` counts the requests it has answered."""

    start: float
    end: float
    mode: OutageMode = "5xx"
    endpoints: frozenset[str] | None = None
    down_s: float | None = None
    up_s: float | None = None
    hang_s: float | None = None
    seed: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end) and self.start < self.end):
            raise ValueError(f"an outage needs a finite start before its end, got {self.start} and {self.end}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.hang_s is not None and not self.hang_s > 0:
            raise ValueError(f"hang_s must be > 0, got {self.hang_s}")
        spells = (self.down_s, self.up_s)
        if spells != (None, None) and not all(spell is not None and 0 < spell < math.inf for spell in spells):
            raise ValueError(f"a flapping outage needs down_s and up_s > 0, got {self.down_s} and {self.up_s}")

    def down_until(self, now: float, endpoint: str) -> float | None:
        """When `endpoint` comes back up, if this window holds it down at `now`; else None."""
        if not self.start <= now < self.end or (self.endpoints is not None and endpoint not in self.endpoints):
            return None
        if self.down_s is None or self.up_s is None:
            return self.end
        cycle = self.down_s + self.up_s
        began = self.start + (now - self.start) // cycle * cycle
        return min(began + self.down_s, self.end) if now - began < self.down_s else None


class _Scheduled:
    """An outage and what it has answered so far (its count, its draws)."""

    def __init__(self, outage: Outage) -> None:
        self.outage = outage
        self.requests = 0
        self.rng = random.Random(outage.seed)

    def answer(self, now: float, until: float, clock: Callable[[], float]) -> tuple[Answer, str]:
        outage, turn = self.outage, self.requests
        self.requests += 1
        mode = self.rng.choice(("5xx", "reset", "hang")) if outage.mode == "mixed" else outage.mode
        if mode == "reset":
            return Answer(0, reset=True), "outage:reset"
        if mode == "hang":
            resume = until if outage.hang_s is None else min(until, now + outage.hang_s)
            return Answer(503, hold=lambda: clock() >= resume), "outage:hang"
        status = _STATUSES[turn % len(_STATUSES)]
        return html(status), f"outage:{status}"


class OutageSchedule:
    """The scheduled outages, in the order scheduled: a request is answered by the first that holds its endpoint
    down at the sink's clock's now. Thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._scheduled: list[_Scheduled] = []

    def add(self, outage: Outage) -> None:
        with self._lock:
            self._scheduled.append(_Scheduled(outage))

    def clear(self) -> None:
        with self._lock:
            self._scheduled.clear()

    def outages(self) -> list[Outage]:
        """Each outage scheduled, with the requests it has answered so far."""
        with self._lock:
            return [dataclasses.replace(each.outage, requests=each.requests) for each in self._scheduled]

    def down(self, endpoint: str, at: float | None = None) -> bool:
        """Whether a request to `endpoint` at `at` (default: now) would meet an outage."""
        now = self._clock() if at is None else at
        with self._lock:
            return any(each.outage.down_until(now, endpoint) is not None for each in self._scheduled)

    def take(self, endpoint: str) -> tuple[Answer, str] | None:
        """The outage's answer for a request to `endpoint` now, and its fault name; None when none holds it down."""
        with self._lock:
            if not self._scheduled:  # the usual case, answered without reading the clock
                return None
            now = self._clock()
            for each in self._scheduled:
                until = each.outage.down_until(now, endpoint)
                if until is not None:
                    return each.answer(now, until, self._clock)
        return None
