"""One request to Mixpanel and what it tells: a place in flight (in_flight.py), the POST, the destination's reading of
the answer, and what follows from it: the request metrics, the in-flight limit's congestion signal, and whether
Mixpanel answers (availability.py). Delivery (the retry loop) sends through it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .availability import Availability, Outage
from .batching import Batch
from .credentials import Credentials
from .delivery_stats import DeliveryStats
from .destinations import Destination, Verdict
from .destinations.base import ACCEPTED, PARTIAL, RETRY
from .errors import RequestTimeout, TransportError
from .in_flight import InFlightLimit
from .transport import Response, Sender


class Exchange:
    """An invocation's requests, one at a time each: sent within their time, counted, and judged."""

    def __init__(
        self,
        api_url: str,
        sender: Sender,
        time_left: Callable[[], float],
        availability: Availability,
        in_flight: InFlightLimit,
    ) -> None:
        self._api_url = api_url
        self._sender = sender
        self._time_left = time_left
        self.availability = availability
        self._in_flight = in_flight
        in_flight.mark()
        self.lock = threading.Lock()
        self.stats = DeliveryStats()  # written under `lock`
        self._answered = False  # a request got an answer that is not a transient failure
        self._transient = False  # a request met a transient failure
        self._sending = 0  # requests waiting for their answer now
        self._out: set[int] = set()  # the submitted batches (by id) that had a request go out

    def send(
        self,
        destination: Destination,
        credentials: Credentials,
        body: bytes,
        raw_size: int,
        batch: Batch,
        timeout: float,
        submitted: Batch,
    ) -> tuple[Verdict, Response | None] | None:
        """The destination's reading of the answer (a retry when no answer came), within `timeout` and the time left;
        None when it could not go before the time ran out (or sending stopped): `/import` requests wait for a place
        under the in-flight limit (the profile endpoints take one request at a time anyway). `submitted`: the batch as
        submitted (`batch` may be a part of it)."""
        slot = None
        if not destination.ordered:
            slot = self._in_flight.acquire(self._time_left)
            if slot is None:
                return None
            if slot.waited:
                with self.lock:
                    self.stats.requests_delayed += 1
        left = self._time_left()  # the place may have been waited for
        if left <= 0:
            if slot is not None:
                self._in_flight.release(slot)
            return None
        timeout = min(timeout, left)
        answer: tuple[Verdict, Response | None] | None = None
        self._out.add(id(submitted))
        with self.lock:
            self._sending += 1
        started = time.perf_counter()
        try:
            answer = self._post(destination, credentials, body, batch, timeout)
            # Counted while still sending: once none is, the stats ended() copies hold every answer
            self._count(answer[0], raw_size, len(body), started)
        finally:
            with self.lock:
                self._sending -= 1
            if slot is not None:
                verdict = answer[0] if answer is not None else None
                throttled = verdict is not None and throttled_answer(verdict)
                accepted = verdict is not None and verdict.kind in (ACCEPTED, PARTIAL)
                self._in_flight.release(slot, throttled=throttled, accepted=accepted)
        verdict, response = answer
        if verdict.kind == RETRY and not throttled_answer(verdict):
            self._transient = True
        else:  # a 429 too: Mixpanel is up and throttling (the in-flight limit slows down for it), not down
            self._answered = True
            self.availability.answered()
        return verdict, response

    def _post(
        self, destination: Destination, credentials: Credentials, body: bytes, batch: Batch, timeout: float
    ) -> tuple[Verdict, Response | None]:
        """The POST and the destination's reading of its answer, the verdict's `request_class` always set."""
        try:
            response = self._sender.send(destination.endpoint(self._api_url, credentials), body, timeout)
        except TransportError as exc:
            request_class = "timeout" if isinstance(exc, RequestTimeout) else "connection"
            return Verdict(RETRY, problem=str(exc), request_class=request_class), None
        verdict = destination.read(response, batch)
        if verdict.request_class is None:
            status = response.status
            verdict.request_class = str(status) if status in (400, 401, 403, 413, 429) else f"{status // 100}xx"
        return verdict, response

    def _count(self, verdict: Verdict, raw_size: int, gzip_size: int, started: float) -> None:
        assert verdict.request_class is not None  # _post sets it
        with self.lock:
            stats = self.stats
            stats.requests[verdict.request_class] += 1
            stats.bytes_raw += raw_size
            stats.bytes_gzip += gzip_size
            stats.latencies_ms.append((time.perf_counter() - started) * 1000)

    def count_resent(self, destination: Destination, batch: Batch) -> None:
        """Messages being sent again after an answer that may have applied them: those not idempotent are counted
        (each time: after two such answers, an `$add` may have been applied three times)."""
        resent = destination.not_idempotent(batch)
        if resent:
            with self.lock:
                self.stats.resent_not_idempotent += resent

    def went_out(self, submitted: Batch) -> bool:
        """Whether a request of `submitted` (a batch as submitted) was sent."""
        return id(submitted) in self._out

    def probed(self) -> None:
        with self.lock:
            self.stats.probes += 1

    def probe_failed(self) -> Outage:
        """The probe met a transient failure: Mixpanel is still down, and the next probe is due later."""
        with self.lock:
            self.stats.probes_failed += 1
        return self.availability.probe_failed()

    def ended(self, abandoned: bool) -> DeliveryStats:
        """The invocation's requests are over (`abandoned`: some were left to the deadline): Mixpanel is marked down
        when one met a transient failure, or got no answer in time, and none got an answer. A copy of the stats (a
        request that outlived the invocation may still count)."""
        with self.lock:
            unanswered = abandoned and self._sending > 0
            stats = self.stats.copy()
        if not self._answered and (self._transient or unanswered):
            self.availability.gave_up()
        stats.in_flight_limit_min, stats.in_flight_limit = self._in_flight.low, self._in_flight.limit
        return stats


def throttled_answer(verdict: Verdict) -> bool:
    """Mixpanel's 429: an answer from a Mixpanel that is up, whose rate limit a later attempt meets again."""
    return verdict.request_class == "429"
