"""MixpanelSink, the sink's public face: start and stop it, read what it received, and count (or hold) the requests
in flight; its faults, outages and rate limit are scripted through the methods it has from scripting.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from .answers import JsonObject
from .api import Limits, MixpanelApi
from .flight import Flight
from .ledger import Ledger, RequestLog
from .profile_state import Profile, ProfileStore
from .profiles import MAX_UPDATES, GroupKey, Update, UserKey
from .rules import Account
from .scripting import Scripting
from .server import LoopbackServer


class MixpanelSink(Scripting):
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
        super().__init__(max_bytes, clock)
        self._ledger = Ledger()
        self._profiles = ProfileStore()
        limits = Limits(max_events, max_bytes, max_updates)
        self._api = MixpanelApi(self._account, limits, clock, self._ledger, self._conditions(), self._profiles)
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
        self._clear_conditions()
        self._api.flight.reset_peak()

    def stats(self) -> JsonObject:
        """The counters GET /stats answers with: /import's `imported`, `duplicates`, `requests` and `by_status`,
        and, once /engage or /groups has had a request, an `engage` or `groups` block: `requests`, `by_status`
        (HTTP), `by_answer` (the body's 1 or 0), `updates`, `applied`, `refused`, `wrong_token` and `profiles`.
        Each has `by_fault` (requests by fault name, e.g. `rate-limit`, `outage:503`) once a request met one."""
        return self._api.stats()

    @property
    def flight(self) -> Flight:
        """The requests in flight, from the moment a body is read until its answer is out (a hang or a drip
        included): `now(endpoint)`, `peak(endpoint)`, `reset_peak()`, and `pause(endpoints)` … `resume()` to hold
        requests once read, unanswered, so a test sees how many a client keeps in flight whatever the timing."""
        return self._api.flight
