"""The sink's faults: scripted ones, in order, and random ones at fixed rates, reproducible from a seed, and what
each answers: an error, a hang, a reset, a drip (Mixpanel's answer one byte at a time), a 200 that is not Mixpanel's
answer (a captive portal's page, or a count that is not the number of events sent), or one event refused. The
endpoint says what its miscounted 200 and its refused first item look like."""

from __future__ import annotations

import collections
import dataclasses
import json
import random
import threading
from collections.abc import Callable
from typing import Literal

from . import imports
from .answers import Answer, Drip, JsonObject, error, html, rate_limited, too_large

PORTAL_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>"
    b"<body><h1>Welcome</h1><p>Accept the terms of use to continue.</p></body></html>\n"
)
_REJECT_MESSAGE = "rejected by the sink's fault script"

# An endpoint's 200 that miscounts: given how many items the request carried.
Miscounted = Callable[[int], Answer]


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """One scripted fault: `kind`, and what it needs (an error's status, body and Retry-After; a hang's seconds);
    `endpoint` when it waits for a request to that path (/import, /engage, /groups) rather than to any."""

    kind: Literal["fail", "hang", "reset", "reject", "drip", "portal", "miscount"]
    status: int = 0
    body: bytes | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    drip: Drip | None = None
    endpoint: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Rates:
    """Random faults: the share of requests of each kind, drawn from `rng`."""

    rng: random.Random
    rate_429: float
    rate_5xx: float
    rate_hang: float
    rate_reset: float
    rate_413: float
    rate_drip: float
    rate_unconfirmed: float
    hang_seconds: float
    drip_seconds: float


class FaultScript:
    """Pending scripted faults, in order, and the random rates used when none is pending. Thread-safe.

    A request takes the first pending fault that is for any endpoint or for its own; one for another endpoint
    waits for a request to that one."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes  # a random 413 names the limit
        self._lock = threading.Lock()
        self._pending: collections.deque[Fault] = collections.deque()
        self._rates: Rates | None = None

    def add(self, fault: Fault, count: int) -> None:
        """`fault` for each of the next `count` requests, after those already scripted."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        with self._lock:
            self._pending.extend([fault] * count)

    def set_rates(self, rates: Rates | None) -> None:
        with self._lock:
            self._rates = rates

    def clear(self) -> None:
        """Forget the pending scripted faults (random rates stay set)."""
        with self._lock:
            self._pending.clear()

    def take(
        self, events: int, miscounted: Miscounted | None = None, endpoint: str = "/import"
    ) -> tuple[Answer, str] | None:
        """The first scripted fault pending for `endpoint` (a reject waits for its request), else a random one,
        with how RequestLog.fault names it; None when the request is to be answered as Mixpanel would.
        `miscounted` is the endpoint's miscount (/import's by default)."""
        miscount = miscounted or miscounted_import
        with self._lock:
            position = self._first_for(endpoint)
            if position is not None:
                fault = self._pending[position]
                if fault.kind == "reject":
                    return None
                del self._pending[position]
                return _scripted(fault, events, miscount)
            rates = self._rates
            if rates is None:
                return None
            return self._random(rates, events, miscount)

    def take_reject(self, endpoint: str = "/import") -> bool:
        """Whether a reject is the first fault pending for `endpoint`, taking it: for a request Mixpanel would
        otherwise answer."""
        with self._lock:
            position = self._first_for(endpoint)
            if position is not None and self._pending[position].kind == "reject":
                del self._pending[position]
                return True
            return False

    def _first_for(self, endpoint: str) -> int | None:
        return next(
            (n for n, fault in enumerate(self._pending) if fault.endpoint in (None, endpoint)),
            None,
        )

    def _random(self, rates: Rates, events: int, miscounted: Miscounted) -> tuple[Answer, str] | None:
        draw = rates.rng.random()
        if draw < (edge := rates.rate_429):
            return rate_limited(), "random:429"
        if draw < (edge := edge + rates.rate_5xx):
            status = rates.rng.choice((502, 503))
            return html(status), f"random:{status}"
        if draw < (edge := edge + rates.rate_hang):
            return Answer(503, hang_seconds=rates.hang_seconds), "random:hang"
        if draw < (edge := edge + rates.rate_reset):
            return Answer(0, reset=True), "random:reset"
        if draw < (edge := edge + rates.rate_413):
            return too_large(self._max_bytes), "random:413"
        if draw < (edge := edge + rates.rate_drip):
            pace = Drip(rates.drip_seconds, headers=rates.rng.random() < 0.5)
            return Answer(200, drip=pace), "random:" + pace.kind
        if draw < edge + rates.rate_unconfirmed:
            answer, kind = unconfirmed(rates.rng.random() < 0.5, events, miscounted)
            return answer, "random:" + kind
        return None


def rejected(event: object) -> JsonObject:
    """The failed_records entry a reject fault puts in place of the request's first event."""
    return imports.failure(0, imports.insert_id(event), "properties.forced", _REJECT_MESSAGE)


def rejected_update() -> str:
    """The error a reject fault gives a profile request's first update, in Mixpanel's "<field>, <reason>" form."""
    return f"update 0, {_REJECT_MESSAGE}"


def unconfirmed(miscount: bool, events: int, miscounted: Miscounted) -> tuple[Answer, str]:
    """A 200 that imports nothing, and its name: a captive portal's page, or the endpoint's miscount."""
    if not miscount:
        return Answer(200, PORTAL_PAGE, "text/html; charset=utf-8"), "portal"
    return miscounted(events), "miscount"


def miscounted_import(events: int) -> Answer:
    """/import's JSON with a num_records_imported that is not the number of events sent."""
    wrong = events - 1 if events else 1
    body = json.dumps({"code": 200, "num_records_imported": wrong, "status": "OK"}, separators=(",", ":"))
    return Answer(200, body.encode(), "application/json")


def _scripted(fault: Fault, events: int, miscounted: Miscounted) -> tuple[Answer, str]:
    if fault.kind == "hang":
        return Answer(503, hang_seconds=fault.seconds), "hang"
    if fault.kind == "reset":
        return Answer(0, reset=True), "reset"
    if fault.drip is not None:
        return Answer(200, drip=fault.drip), fault.drip.kind
    if fault.kind in ("portal", "miscount"):
        return unconfirmed(fault.kind == "miscount", events, miscounted)
    return _failed(fault), f"fail:{fault.status}"


def _failed(fault: Fault) -> Answer:
    headers = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
    if fault.body is None:
        return dataclasses.replace(error(fault.status, "fault injected by the sink"), headers=headers)
    try:
        json.loads(fault.body)
        content_type = "application/json"
    except ValueError:
        content_type = "text/html; charset=utf-8"
    return Answer(fault.status, fault.body, content_type=content_type, headers=headers)
