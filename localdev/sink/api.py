"""The sink's API: routes each request to its endpoint (/import, /engage, /groups) and answers it as Mixpanel would,
after any fault, logging every ingestion request in the ledger. GET /events and /stats show what was received.

Who answers, first match wins: a scheduled outage (the servers are down: nothing behind it sees the request, so a
scripted fault stays pending for the first request that gets through); then a scripted fault, then a random one
(each stands for what one request meets); then Mixpanel itself: auth and per-request limits, then the rate limit
(what a project sent recently: only requests that reach it count, valid events or not, since Mixpanel counts
requests that fail validation too), then validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from . import faults, imports, profile_wire, profiles
from .answers import Answer, JsonObject, error, json_answer, rate_limited, too_large
from .codec import dumps
from .faults import FaultScript, Miscounted
from .flight import Flight
from .ledger import Ledger, RequestLog
from .outages import OutageSchedule
from .profile_state import ProfileStore
from .profile_wire import ProfileRequest
from .profiles import Endpoint, Refused, Update
from .rate_limit import RateLimiter
from .rules import Account, Body, authorized, decode_body, param


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Mixpanel's per-request limits: /import's events, bytes (uncompressed), and profile updates."""

    max_events: int
    max_bytes: int
    max_updates: int


@dataclasses.dataclass(frozen=True, slots=True)
class Conditions:
    """What MixpanelSink scripts at run time: faults, outages and the rate limit."""

    faults: FaultScript
    outages: OutageSchedule
    rate: RateLimiter


class MixpanelApi:
    """Answers the handler's requests (the App it serves); MixpanelSink owns the ledger and the conditions."""

    def __init__(
        self,
        account: Account,
        limits: Limits,
        clock: Callable[[], float],
        ledger: Ledger,
        conditions: Conditions,
        profiles: ProfileStore,
    ) -> None:
        self._account = account
        self._limits = limits
        self._clock = clock
        self._ledger = ledger
        self._faults = conditions.faults
        self._outages = conditions.outages
        self._rate = conditions.rate
        self._profiles = profiles
        self.flight = Flight()

    def get(self, path: str) -> Answer:
        if path == "/events":
            return Answer(200, dumps(self._ledger.events))
        if path == "/stats":
            return json_answer(200, self.stats())
        return error(404, "not found")

    def stats(self) -> JsonObject:
        """The ledger's counters, and how many profiles each profile endpoint's block now holds."""
        stats = self._ledger.stats()
        for endpoint, held in zip((profiles.ENGAGE, profiles.GROUPS), self._profiles.counts(), strict=True):
            if endpoint.name in stats:
                stats[endpoint.name]["profiles"] = held
        return stats

    def post(self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> Answer:
        if path == "/import":
            return self._import(query, headers, body)
        endpoint = profiles.ENDPOINTS.get(path)
        if endpoint is None:
            return error(404, "not found")
        return self._profile(endpoint, query, headers, body)

    def _import(self, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> Answer:
        """Answer one POST /import like Mixpanel, after any scripted or random fault, and log it."""
        gzipped = headers.get("content-encoding", "").strip().lower() == "gzip"
        decoded = decode_body(
            body, headers.get("content-encoding", ""), headers.get("content-type", ""), self._limits.max_bytes
        )
        count = len(decoded.events) if decoded.events is not None else 0
        log = RequestLog(0, count, 0, 0, gzipped, decoded.raw_bytes, None)
        return self._faulted(log, lambda logged: self._answer(query, headers, decoded, logged))

    def _faulted(
        self, log: RequestLog, real: Callable[[RequestLog], Answer], miscounted: Miscounted | None = None
    ) -> Answer:
        """An outage's answer, else any scripted or random fault's, else `real`: Mixpanel's own answer."""
        faulted = self._outages.take(log.endpoint) or self._faults.take(log.events, miscounted, log.endpoint)
        if faulted is None:
            return real(log)
        answer, kind = faulted
        if answer.drip is None:
            return self._log(dataclasses.replace(log, fault=kind), answer)
        # A drip is Mixpanel's own answer, only slow: what it imports or applies is real.
        return dataclasses.replace(real(dataclasses.replace(log, fault=kind)), drip=answer.drip)

    def _answer(self, query: dict[str, list[str]], headers: dict[str, str], decoded: Body, log: RequestLog) -> Answer:
        """Mixpanel's own answer: auth, limits, the rate limit, strict validation and dedup."""
        count = log.events
        if not authorized(self._account, headers.get("authorization", ""), param(query, "project_id")):
            return self._log(log, error(401, "Invalid credentials", 0))
        if decoded.too_large:
            return self._log(log, too_large(self._limits.max_bytes))
        if decoded.events is None:  # a corrupt gzip body lands here too: it is never too large
            return self._log(log, error(400, decoded.error or "unable to read the body"))
        if count > self._limits.max_events:
            return self._log(log, error(400, "too many events"))
        if not self._rate.admit("/import", count, decoded.raw_bytes):
            return self._log(dataclasses.replace(log, fault="rate-limit"), rate_limited())

        now = self._clock()
        checked = [imports.validate(index, event, now) for index, event in enumerate(decoded.events)]
        rejected = count > 0 and log.fault is None and self._faults.take_reject()
        if rejected:
            checked[0] = (faults.rejected(decoded.events[0]), None)
        failed = [entry for entry, _ in checked if entry is not None]
        accepted = [(event, key) for event, (_, key) in zip(decoded.events, checked, strict=True) if key is not None]
        strict = param(query, "strict") == "1"
        answer = imports.imported_answer(len(accepted), failed, report_failures=strict or rejected)
        fault = "reject" if rejected else log.fault
        entry = dataclasses.replace(log, status=answer.status, imported=len(accepted), failed=len(failed), fault=fault)
        self._ledger.record(entry, accepted)
        return answer

    def _log(self, entry: RequestLog, answer: Answer, *, answer_status: int | None = None) -> Answer:
        self._ledger.log(dataclasses.replace(entry, status=answer.status, answer=answer_status))
        return answer

    def _profile(self, endpoint: Endpoint, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> Answer:
        """Answer one POST /engage or /groups like Mixpanel, after any scripted or random fault, and log it."""
        request = profile_wire.read(query, headers, body)
        count = len(request.updates) if request.updates is not None else 0
        log = RequestLog(0, count, 0, 0, request.encoding == "gzip", len(body), None, endpoint.path)
        return self._faulted(
            log,
            lambda logged: self._profile_answer(endpoint, request, len(body), logged),
            lambda _updates: profile_wire.miscounted(request.verbose),
        )

    def _profile_answer(self, endpoint: Endpoint, request: ProfileRequest, size: int, log: RequestLog) -> Answer:
        """Mixpanel's own answer: limits (the rate limit when it covers the endpoint), then each update checked; the
        valid ones are applied, in order."""
        if request.encoding:
            return self._log(log, profile_wire.encoded(request.encoding, endpoint.path), answer_status=0)
        if size > self._limits.max_bytes:
            return self._log(log, too_large(self._limits.max_bytes))
        if request.updates is None:
            unread, _ = profile_wire.answer(request.verbose, valid=0, error=request.error)
            return self._log(log, unread, answer_status=0)
        if log.events > self._limits.max_updates:
            message = f"too many updates: {log.events}, at most {self._limits.max_updates} per request"
            return self._log(log, profile_wire.refused(400, message), answer_status=0)
        if not self._rate.admit(endpoint.path, log.events, size):
            return self._log(dataclasses.replace(log, fault="rate-limit"), rate_limited())
        return self._take_in(endpoint, request.updates, request.verbose, log)

    def _take_in(self, endpoint: Endpoint, updates: list[Any], verbose: bool, log: RequestLog) -> Answer:
        """Each update checked; the valid ones with this project's token applied, in order, whatever the others."""
        checked = [_checked(endpoint, update) for update in updates]
        rejected = log.fault is None and self._faults.take_reject(endpoint.path)
        if rejected:
            checked[0] = faults.rejected_update()
        valid = [update for update in checked if isinstance(update, Update)]
        ours = [update for update in valid if update.token == self._account.token]
        self._profiles.apply(ours)
        first_error = next((update for update in checked if isinstance(update, str)), None)
        answer, status = profile_wire.answer(verbose, valid=len(valid), error=first_error)
        applied = dataclasses.replace(
            log,
            imported=len(ours),
            failed=len(checked) - len(valid),
            wrong_token=len(valid) - len(ours),
            fault="reject" if rejected else log.fault,
        )
        return self._log(applied, answer, answer_status=status)


def _checked(endpoint: Endpoint, update: object) -> Update | str:
    """The update read, or the message refusing it."""
    try:
        return profiles.check(endpoint, update)
    except Refused as refused:
        return refused.message
