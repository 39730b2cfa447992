"""MixpanelSink, the sink's public face: start and stop it, read what it received, script its faults, its outages
and its rate limit, and count (or hold) the requests in flight."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterable
from types import TracebackType

from .answers import Drip, JsonObject
from .api import Conditions, Limits, MixpanelApi
from .faults import Fault, FaultScript, Rates
from .flight import Flight
from .ledger import Ledger, RequestLog
from .outages import Outage, OutageMode, OutageSchedule
from .profile_state import Profile, ProfileStore
from .profiles import ENDPOINTS as PROFILE_ENDPOINTS
from .profiles import MAX_UPDATES, GroupKey, Update, UserKey
from .rate_limit import RateLimit, RateLimiter
from .rules import Account
from .server import LoopbackServer

ENDPOINTS = ("/import", *PROFILE_ENDPOINTS)


class MixpanelSink:
    """A loopback stand-in for Mixpanel's /import (strict validation, dedup) and its profile endpoints /engage and
    /groups (each update checked, the profiles kept), with Mixpanel's limits, scripted faults, scheduled outages and
    a rate limit.

    `clock` is the sink's now: it judges event times, and runs the rate limit's window and the outage schedule, so a
    test may pass a fake one, or a time-scaled one for a backfill or an outage of hours.

    Thread-safe: handlers run in daemon threads; the ledger, the profiles, the fault script, the outage schedule and
    the rate limiter each guard their state.
    """

    def __init__(
        self,
        *,
        username: str = "sink-user",
        secret: str = "sink-secret",  # noqa: S107 - a local dummy
        project_id: str = "4242",
        token: str | None = "sink-token",  # noqa: S107 - a local dummy
        max_events: int = 2000,
        max_bytes: int = 2 * 1024 * 1024,
        max_updates: int = MAX_UPDATES,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._account = Account(username, secret, project_id, token)
        self._host = host
        self._port = port
        self._ledger = Ledger()
        self._faults = FaultScript(max_bytes)
        self._outages = OutageSchedule(clock)
        self._rate = RateLimiter(clock)
        self._profiles = ProfileStore()
        limits = Limits(max_events, max_bytes, max_updates)
        conditions = Conditions(self._faults, self._outages, self._rate)
        self._api = MixpanelApi(self._account, limits, clock, self._ledger, conditions, self._profiles)
        self._server: LoopbackServer | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> MixpanelSink:
        """Serve in a background thread. After stop() it may start again, on the same port."""
        if self._server is not None:
            raise RuntimeError("the sink is already running")
        server = LoopbackServer(self._api, self._host, self._port)
        self._port = server.port  # a restart keeps the URL the forwarder was given
        self._server = server
        server.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and every open connection, and wake handlers that hang."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None

    def __enter__(self) -> MixpanelSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash or /import, as MIXPANEL_API_URL expects it."""
        if self._server is None:
            raise RuntimeError("the sink is not running: call start() first")
        return f"http://{self._host}:{self._port}"

    def env(self) -> dict[str, str]:
        """The forwarder's environment variables pointing at this sink with service-account auth."""
        return {
            "MIXPANEL_API_URL": self.url,
            "MIXPANEL_PROJECT_ID": self._account.project_id,
            "MIXPANEL_SERVICE_ACCOUNT_USERNAME": self._account.username,
            "MIXPANEL_SERVICE_ACCOUNT_SECRET": self._account.secret,
        }

    @property
    def token(self) -> str | None:
        """The project token: profile updates carrying another are accepted, but not into this project."""
        return self._account.token

    # --- what was received -----------------------------------------------------------------------------

    @property
    def events(self) -> list[JsonObject]:
        """Imported events after dedup, in import order (a new list; the events themselves are shared)."""
        return self._ledger.events

    @property
    def requests(self) -> list[RequestLog]:
        """One entry per POST to /import, /engage or /groups, in the order they were answered."""
        return self._ledger.requests

    @property
    def users(self) -> dict[UserKey, Profile]:
        """User profiles by distinct_id (a copy), as the valid /engage updates with this project's token left them."""
        return self._profiles.users()

    @property
    def groups(self) -> dict[GroupKey, Profile]:
        """Group profiles by (group_key, group_id) (a copy), as the valid /groups updates left them."""
        return self._profiles.groups()

    @property
    def updates(self) -> list[Update]:
        """Every /engage and /groups update applied to this project's profiles, in the order applied, each time it
        was applied (a resent update is there twice); a user update's `key` is its distinct_id, a group's a pair."""
        return self._profiles.applied()

    @property
    def duplicates(self) -> int:
        """Events received again with a dedup key already imported: counted as imported, not stored twice."""
        return self._ledger.duplicates

    def clear(self) -> None:
        """Forget events, requests, duplicates, profiles, applied updates, pending scripted faults, scheduled outages
        and what the rate limit's window holds (random fault rates and the rate limit stay set); the peaks in flight
        count again from now."""
        self._ledger.clear()
        self._profiles.clear()
        self._faults.clear()
        self._outages.clear()
        self._rate.clear()
        self._api.flight.reset_peak()

    def stats(self) -> JsonObject:
        """The counters GET /stats answers with: /import's `imported`, `duplicates`, `requests` and `by_status`,
        and, once /engage or /groups has had a request, an `engage` or `groups` block: `requests`, `by_status`
        (HTTP), `by_answer` (the body's 1 or 0), `updates`, `applied`, `refused`, `wrong_token` and `profiles`.
        Each has `by_fault` (requests by fault name, e.g. `rate-limit`, `outage:503`) once a request met one."""
        return self._api.stats()

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

    @property
    def flight(self) -> Flight:
        """The requests in flight, from the moment a body is read until its answer is out (a hang or a drip
        included): `now(endpoint)`, `peak(endpoint)`, `reset_peak()`, and `pause(endpoints)` … `resume()` to hold
        requests once read, unanswered, so a test sees how many a client keeps in flight whatever the timing."""
        return self._api.flight


def _paths(endpoints: Iterable[str]) -> frozenset[str]:
    paths = frozenset(endpoints)
    unknown = sorted(paths - set(ENDPOINTS))
    if unknown:
        raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}, got {unknown[0]!r}")
    return paths
