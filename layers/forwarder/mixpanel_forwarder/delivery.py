"""Sending batches to their destinations: several in flight, each retried with backoff within its attempts and
the invocation's time, and every answer carried out on the messages of its request (the destination reads the
answer; see destinations/base.py for what each verdict does). A request still in flight at the deadline is
reported for retry; whatever its thread learns later is ignored.

Profile destinations are `ordered`: their requests go one at a time in the order they were submitted (each
kind has an executor of one thread), and once an update of a profile could not be delivered, that profile's
later updates are held back and reported with it, so they never overtake it (request_outcomes.py).

Each request goes through exchange.py: `/import` requests wait for a place under the container's in-flight limit
(in_flight.py), and every answer tells the container whether Mixpanel is up. When the invocation begins with Mixpanel
down, its first batch is a probe and the others wait for its verdict (availability.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Executor, Future

from .availability import Availability, ProbeGate
from .batching import Batch
from .credentials import Credentials, CredentialsSource
from .deadline import Deadline
from .delivery_stats import DeliveryStats
from .destinations import Destination, Verdict
from .destinations.base import ACCEPTED, HALT, PARTIAL, REAUTHORIZE, REFUSE_ALL, RETRY, SPLIT
from .errors import ForwarderError, Invalid
from .exchange import Exchange, throttled_answer
from .in_flight import InFlightLimit
from .ledger import Ledger
from .model import Failure, Kind, clip
from .request_outcomes import COMES_AGAIN, RequestOutcomes
from .retry import Backoff
from .settings import Settings
from .transport import Sender

# Answers after which a request may or may not have been applied: what it held is sent again regardless.
_AMBIGUOUS = frozenset({"timeout", "connection", "5xx", "2xxUnconfirmed", "2xxRefused"})


class Delivery:
    """One invocation's requests: submitted as batches fill, several in flight, awaited at the end."""

    def __init__(
        self,
        settings: Settings,
        destinations: Mapping[Kind, Destination],
        credentials: CredentialsSource,
        sender: Sender,
        executors: Mapping[Kind, Executor],
        backoff: Backoff,
        ledger: Ledger,
        deadline: Deadline,
        *,
        availability: Availability | None = None,
        in_flight: InFlightLimit | None = None,
        wait_to_probe: bool = False,
        ordered_source: bool = False,
    ) -> None:
        """`availability` and `in_flight` are the container's (a fresh one each when not given); `wait_to_probe`: a
        probe waits for the container's probe time first (Kinesis: Lambda retries a failed batch at once);
        `ordered_source`: every record after a reported one comes again (SQS FIFO, Kinesis), so what only such
        records hold is not sent (request_outcomes.py)."""
        self._settings = settings
        self._destinations = destinations
        self._credentials_source = credentials
        self._executors = executors
        self._backoff = backoff
        self._ledger = ledger
        self._outcomes = RequestOutcomes(ledger, ordered_source=ordered_source)  # sender threads write through it
        self._deadline = deadline
        # Credentials first: when they cannot be had, nothing can work and the whole batch is retried.
        self._credentials = credentials.get(within=deadline.remaining())
        self._refreshed = False
        self._refresh_failure = ""  # why the credentials read again after a 401 could not be used, for the reason
        self._futures: list[tuple[Future[None], Batch]] = []
        self._stop = threading.Event()
        self._stop_reason = ""
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()  # one read of the credentials after a 401 at a time
        self._exchange = exchange = Exchange(
            settings.api_url,
            sender,
            self._time_left,
            availability or Availability(backoff),
            in_flight or InFlightLimit(settings.max_concurrent_requests),
        )
        self._wait_to_probe = wait_to_probe
        outage = exchange.availability.outage()
        # Mixpanel was down when last tried: the first batch probes, the others wait for its verdict.
        self._gate = None if outage is None else ProbeGate(outage, self._start, self._outcomes.give_up)
        if outage is not None:
            exchange.stats.unavailable_since = outage.since

    @property
    def token(self) -> str | None:
        """The project token profile updates carry (None: there is none, and they are refused)."""
        return self._credentials.token

    @property
    def hash_key(self) -> str | None:
        """The key TRANSFORMS' hash_properties hashes with (None: there is none)."""
        return self._credentials.hash_key

    def submit(self, batch: Batch) -> None:
        if self._gate is None:
            self._futures.append((self._executors[batch.kind].submit(self._deliver, batch), batch))
        else:
            self._gate.submit(batch)

    def _start(self, batch: Batch, probe: bool) -> None:
        """Sends `batch` (the gate's call, under its lock)."""
        task = self._probe if probe else self._deliver
        self._futures.append((self._executors[batch.kind].submit(task, batch), batch))

    def wait(self) -> DeliveryStats:
        """Until every request has ended, but never past the deadline: a request can outlive it (a sender stuck
        in a call), and the invocation must answer all the same. What is unsettled then is reported."""
        gate = self._gate
        if gate is not None:  # the held batches start (or not) on the probe's verdict: only then are they all here
            gate.submitted_all()
            gate.decided.wait(max(self._deadline.remaining(), 0.0))
            gate.close(gate.outage.failure("had no answer before the function's time ran out"))
        unsettled: list[tuple[Future[None], Batch]] = []
        for future, batch in self._futures:
            try:
                future.result(timeout=max(self._deadline.remaining(), 0.0))
            except TimeoutError:
                unsettled.append((future, batch))
            except Exception as exc:  # a bug must not lose events: they are reported for retry
                # Its type and message, never its repr: a UnicodeEncodeError's holds the whole text it was encoding
                failure = Failure(f"internal error while sending: {type(exc).__name__}: {clip(str(exc), 200)}")
                self._ledger.fail_all(batch.indices, failure)
        self._outcomes.close()  # from here on the ledger is the caller's alone
        if unsettled:
            with self._lock:
                if not self._stop.is_set():  # threads still sending stop at their next step
                    self._stop_reason = "the invocation ended"
                    self._stop.set()
            not_confirmed = Failure("not confirmed before the function's time ran out")
            not_sent = Failure("not sent: the function's time ran out")  # waiting for a thread, or a place in flight
            for future, batch in unsettled:
                future.cancel()  # one that has not started never will
                went_out = self._exchange.went_out(batch)
                self._ledger.fail_unsettled(batch.indices, not_confirmed if went_out else not_sent)
        return self._exchange.ended(abandoned=bool(unsettled))

    def _time_left(self) -> float:
        """What a request may still wait for a place in flight: nothing once sending stopped."""
        return 0.0 if self._stop.is_set() else self._deadline.remaining()

    def _probe(self, batch: Batch) -> None:
        """The probe: whatever ends it without a verdict (the time, a halt, a bug) the held batches meet too."""
        assert self._gate is not None
        try:
            if self._wait_to_probe:  # until the container's probe time, but never so long that the probe cannot go
                until = self._exchange.availability.until_probe()
                wait = min(until, self._deadline.remaining() - self._settings.probe_timeout)
                if wait > 0:
                    self._stop.wait(wait)
            self._deliver(batch, probe=True)
        finally:
            self._gate.open()

    def _deliver(self, batch: Batch, resent: bool = False, probe: bool = False, submitted: Batch | None = None) -> None:
        """`resent`: the messages were in a request whose answer may have applied them (a half after a status 0);
        `probe`: its first attempt is the probe (sent once, with the probe's timeout); `submitted`: the batch as
        submitted, when `batch` is a half of it."""
        submitted = batch if submitted is None else submitted
        destination = self._destinations[batch.kind]
        if batch.keys is not None:
            batch = self._outcomes.hold_back(batch)
            if not batch.indices:
                return
        body, raw_size, encoded_with = b"", 0, None  # the request as encoded, and the credentials it was encoded with
        attempt = 0
        while True:
            if self._stop.is_set():
                self._outcomes.give_up(batch, Failure(self._stop_reason))
                return
            if self._outcomes.comes_again(batch):
                self._outcomes.give_up(batch, Failure(COMES_AGAIN))
                return
            remaining = self._deadline.remaining()
            if remaining <= 0:
                self._outcomes.give_up(batch, Failure("not sent: the function's time ran out"))
                return
            attempt += 1
            credentials = self._credentials
            if encoded_with is None or (destination.token_inside and credentials is not encoded_with):
                try:  # once, or again with credentials read again after a 401 when they are inside the body
                    body, raw_size = destination.encode(batch, credentials)
                except Invalid as exc:  # the credentials read again lack the project token
                    self._outcomes.give_up(batch, Failure(exc.message, exc.field))
                    return
                encoded_with = credentials
            if resent:
                self._exchange.count_resent(destination, batch)
            timeout = self._settings.probe_timeout if probe else self._settings.request_timeout
            sent = self._exchange.send(destination, credentials, body, raw_size, batch, timeout, submitted)
            if sent is None:  # no place in flight before sending stopped or the time ran out
                reason = self._stop_reason if self._stop.is_set() else "not sent: the function's time ran out"
                self._outcomes.give_up(batch, Failure(reason))
                return
            verdict, response = sent
            kind = verdict.kind
            resent = verdict.request_class in _AMBIGUOUS  # sent again from here on, the messages count as resent
            if probe:
                probe = False
                self._exchange.probed()
                if kind == RETRY and not throttled_answer(verdict):
                    self._probe_failed(batch, verdict)
                    return
                if kind != HALT:  # a halt first stops everything: then the held batches meet it
                    assert self._gate is not None
                    self._gate.open()
            if kind == REAUTHORIZE and self._fresh_credentials(credentials):
                continue
            if kind == ACCEPTED:
                self._outcomes.imported(batch)
                return
            if kind == PARTIAL:
                self._outcomes.partial(batch, verdict)
                return
            if kind == REFUSE_ALL:
                for position in range(len(batch)):
                    self._outcomes.refuse(batch, position, verdict.failure)
                return
            if kind == SPLIT:
                if len(batch) == 1:  # refused for good; or reported, when the answer says nothing against it
                    assert verdict.failure is not None  # split verdicts carry their failure
                    if verdict.failure.permanent:
                        self._outcomes.refuse(batch, 0, verdict.failure)
                    else:
                        self._outcomes.give_up(batch, verdict.failure)
                    return
                for half in batch.split():  # in order: the first half ends before the second is sent
                    self._deliver(half, resent, submitted=submitted)
                return
            if kind in (HALT, REAUTHORIZE):
                self._halt(verdict.problem + (self._refresh_failure if kind == REAUTHORIZE else ""))
                self._outcomes.give_up(batch, Failure(self._stop_reason))
                return
            assert kind == RETRY
            if attempt >= self._settings.max_attempts:
                self._outcomes.give_up(batch, Failure(f"gave up after {attempt} attempts; last: {verdict.problem}"))
                return
            delay = self._backoff.delay(attempt, response.retry_after if response is not None else None)
            if delay >= self._deadline.remaining():
                self._outcomes.give_up(batch, Failure(f"no time left to retry; last: {verdict.problem}"))
                return
            with self._exchange.lock:
                self._exchange.stats.retries += 1
            self._stop.wait(delay)

    def _probe_failed(self, batch: Batch, verdict: Verdict) -> None:
        """Mixpanel is still down: nothing else is sent this invocation, and the next probe is due later."""
        assert self._gate is not None
        failure = self._exchange.probe_failed().failure(f"failed: {verdict.problem}")
        self._outcomes.give_up(batch, failure)
        self._gate.close(failure)

    def _fresh_credentials(self, refused: Credentials) -> bool:
        """After a 401: read the credentials again, once per invocation; True if there are new ones to try.

        Under a lock of its own: the read may take all the time left (Secrets Manager not answering), and the other
        senders must go on recording their answers meanwhile (they take the outcomes' lock and the exchange's lock after
        each request)."""
        with self._refresh_lock:
            if self._credentials is not refused:
                return True  # another request already refreshed them
            if self._refreshed:
                return False
            self._refreshed = True
            try:
                credentials = self._credentials_source.get(refresh=True, within=self._deadline.remaining())
            except ForwarderError as exc:  # names the variable and the problem, never a value
                self._refresh_failure = f"; the credentials read again cannot be used: {exc}"
                return False
            if credentials == refused:
                return False
            self._credentials = credentials
            return True

    def _halt(self, reason: str) -> None:
        """Credentials refused (or the URL is wrong): every request would fail the same way."""
        if not self._stop.is_set():
            self._stop_reason = f"{reason} (nothing more sent this invocation)"
            self._stop.set()
