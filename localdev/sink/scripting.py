"""The sink's conditions as a test scripts them: faults (scripted in order, or random at fixed rates), Mixpanel's
rate limit over a rolling window, and outages on the sink's clock. MixpanelSink (core.py) has these methods; what
they set is kept in faults.py, rate_limit.py and outages.py, and met by each request in api.py."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable

from .answers import Drip
from .api import Conditions
from .faults import Fault, FaultScript, Rates
from .outages import Outage, OutageMode, OutageSchedule
from .profiles import ENDPOINTS as PROFILE_ENDPOINTS
from .rate_limit import RateLimit, RateLimiter

ENDPOINTS = ("/import", *PROFILE_ENDPOINTS)


class Scripting:
    """MixpanelSink's faults, rate limit and outages: each guards its own state (handlers run in threads)."""

    def __init__(self, max_bytes: int, clock: Callable[[], float]) -> None:
        self._faults = FaultScript(max_bytes)
        self._outages = OutageSchedule(clock)
        self._rate = RateLimiter(clock)

    def _conditions(self) -> Conditions:
        """What each request meets, for the API to consult."""
        return Conditions(self._faults, self._outages, self._rate)

    def _clear_conditions(self) -> None:
        """Pending scripted faults, scheduled outages and the rate limit's window forgotten (the random fault rates
        and the rate limit stay set)."""
        self._faults.clear()
        self._outages.clear()
        self._rate.clear()

    # --- faults ----------------------------------------------------------------------------------------
    # Each scripted fault goes to the next request to any endpoint, in the order scripted; with `endpoint`
    # ("/import", "/engage" or "/groups") it waits for a request to that one, letting the others pass.

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        body: bytes | None = None,
        retry_after: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Answer the next `count` requests with `status` (and `body`, `Retry-After` when given), taking in nothing."""
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {status}")
        self._script(Fault("fail", status=status, body=body, retry_after=retry_after), count, endpoint)

    def hang_next(self, seconds: float, count: int = 1, *, endpoint: str | None = None) -> None:
        """Read the next `count` requests, then wait `seconds` (cut short by stop()) before answering 503."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._script(Fault("hang", seconds=seconds), count, endpoint)

    def reset_next(self, count: int = 1, *, endpoint: str | None = None) -> None:
        """Read the next `count` requests, then reset the TCP connection without answering."""
        self._script(Fault("reset"), count, endpoint)

    def reject_next(self, count: int = 1, *, endpoint: str | None = None) -> None:
        """Refuse the first event of the next `count` authenticated, readable imports that carry events (400), or
        the first update of a readable profile request (200, status 0): the rest are taken in as usual."""
        self._script(Fault("reject"), count, endpoint)

    def drip_next(self, interval: float, count: int = 1, *, headers: bool = False, endpoint: str | None = None) -> None:
        """Take in the next `count` requests as usual but send each answer one byte every `interval` seconds: the
        body, or with `headers` the status line and headers too (stop() cuts it short)."""
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self._script(Fault("drip", drip=Drip(interval, headers)), count, endpoint)

    def unconfirmed_next(self, count: int = 1, *, miscount: bool = False, endpoint: str | None = None) -> None:
        """Answer the next `count` requests 200 without taking anything in: a captive portal's HTML page, or with
        `miscount` an answer that does not confirm what was sent: /import's JSON with a num_records_imported that
        is not the number of events sent; for /engage and /groups a bare `1` when verbose was asked, else
        `{"status": "ok"}`."""
        self._script(Fault("miscount" if miscount else "portal"), count, endpoint)

    def _script(self, fault: Fault, count: int, endpoint: str | None) -> None:
        _paths(() if endpoint is None else (endpoint,))
        self._faults.add(dataclasses.replace(fault, endpoint=endpoint), count)

    def set_fault_rates(
        self,
        *,
        seed: int,
        rate_429: float = 0,
        rate_5xx: float = 0,
        rate_hang: float = 0,
        hang_seconds: float = 1.0,
        rate_reset: float = 0,
        rate_413: float = 0,
        rate_drip: float = 0,
        drip_seconds: float = 0.5,
        rate_unconfirmed: float = 0,
    ) -> None:
        """Fail requests at random, reproducibly for a given seed, when no scripted fault is pending. A drip drips
        the body or the headers, an unconfirmed 200 is a portal's page or a miscount, each half the time."""
        rates = (rate_429, rate_5xx, rate_hang, rate_reset, rate_413, rate_drip, rate_unconfirmed)
        if any(not 0 <= rate <= 1 for rate in rates) or sum(rates) > 1 or drip_seconds <= 0:
            raise ValueError(f"fault rates must each be within [0, 1] and add up to at most 1, got {rates}")
        configured = Rates(random.Random(seed), *rates, hang_seconds, drip_seconds)
        self._faults.set_rates(configured if sum(rates) > 0 else None)

    # --- rate limit and outages ------------------------------------------------------------------------
    # Times are the sink's clock's; an outage is met before any scripted fault, the rate limit after them all.

    def set_rate_limit(
        self,
        window_s: float,
        *,
        events: int | None = None,
        uncompressed_bytes: int | None = None,
        endpoints: Iterable[str] = ("/import",),
    ) -> None:
        """Admit at most `events` events and/or `uncompressed_bytes` bytes in any `window_s` seconds, summed over
        `endpoints` (for /engage and /groups, updates and body bytes); a request that would take the window past
        either is answered 429 and takes in nothing (a request larger than the limit, always). Mixpanel's own:
        window_s=60, events=1_800_000, uncompressed_bytes=2_000_000_000. Replaces any limit, with an empty window."""
        self._rate.set(RateLimit(window_s, events, uncompressed_bytes, _paths(endpoints)))

    def clear_rate_limit(self) -> None:
        """Admit everything again."""
        self._rate.set(None)

    def schedule_outage(
        self,
        start: float,
        end: float,
        mode: OutageMode = "5xx",
        *,
        endpoints: Iterable[str] | None = None,
        hang_s: float | None = None,
        seed: int = 0,
    ) -> None:
        """From `start` until `end`, answer requests to `endpoints` (default all three) as an outage: `5xx` (a
        balancer's 503 and 502 HTML pages in turn), `reset` (no answer), `hang` (held until `end`, or `hang_s`,
        or stop(), then 503), or `mixed` (each request one of those at random, from `seed`). GET /events and /stats
        stay up. Outages may overlap: the one scheduled first answers."""
        paths = None if endpoints is None else _paths(endpoints)
        self._outages.add(Outage(start, end, mode, paths, hang_s=hang_s, seed=seed))

    def schedule_flapping(
        self,
        start: float,
        end: float,
        *,
        down_s: float,
        up_s: float,
        mode: OutageMode = "5xx",
        endpoints: Iterable[str] | None = None,
        hang_s: float | None = None,
        seed: int = 0,
    ) -> None:
        """Like schedule_outage, but down for `down_s` and up for `up_s` in turn from `start` until `end` (a hang
        is held until its down spell ends)."""
        paths = None if endpoints is None else _paths(endpoints)
        self._outages.add(Outage(start, end, mode, paths, down_s, up_s, hang_s, seed))

    def is_down(self, endpoint: str = "/import", at: float | None = None) -> bool:
        """Whether a request to `endpoint` at `at` (default: the clock's now) meets a scheduled outage."""
        _paths((endpoint,))
        return self._outages.down(endpoint, at)

    @property
    def outages(self) -> list[Outage]:
        """The outages scheduled, in order, each with the number of requests it answered (`requests`)."""
        return self._outages.outages()

    def clear_outages(self) -> None:
        """Forget every scheduled outage."""
        self._outages.clear()


def _paths(endpoints: Iterable[str]) -> frozenset[str]:
    paths = frozenset(endpoints)
    unknown = sorted(paths - set(ENDPOINTS))
    if unknown:
        raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}, got {unknown[0]!r}")
    return paths
