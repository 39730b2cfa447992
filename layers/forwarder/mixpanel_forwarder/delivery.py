"""Sending batches to a destination: several in flight, each retried with backoff within its attempts and the
invocation's time, and every answer carried out on the events of its request (the destination reads the
answer; see destinations/base.py for what each verdict does). A request still in flight at the deadline is
reported for retry; whatever its thread learns later is ignored.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import Executor, Future

from . import codec
from .batching import Batch
from .credentials import CredentialsSource
from .deadline import Deadline
from .destinations import Destination, Verdict
from .destinations.base import ACCEPTED, HALT, PARTIAL, REAUTHORIZE, REFUSE_ALL, RETRY, SPLIT
from .errors import ForwarderError, RequestTimeout, TransportError
from .ledger import FailedEvent, Ledger, Outcomes
from .model import Failure
from .retry import Backoff
from .settings import Settings
from .transport import Endpoint, Response, Sender


class DeliveryStats:
    """What the requests of one invocation did: read by the metrics and the summary line."""

    __slots__ = ("bytes_gzip", "bytes_raw", "latencies_ms", "requests", "retries")

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()  # by class: 2xx, 2xxUnconfirmed, 400, …, timeout, connection
        self.retries = 0
        self.bytes_raw = 0
        self.bytes_gzip = 0
        self.latencies_ms: list[float] = []

    def copy(self) -> DeliveryStats:
        copied = DeliveryStats()
        copied.requests = Counter(self.requests)
        copied.retries, copied.bytes_raw, copied.bytes_gzip = self.retries, self.bytes_raw, self.bytes_gzip
        copied.latencies_ms = list(self.latencies_ms)
        return copied

    @property
    def latency_ms_max(self) -> float:
        return max(self.latencies_ms) if self.latencies_ms else 0.0

    def summary(self) -> dict[str, object]:
        """For the log line: everything but the latencies one by one."""
        return {
            "requests": dict(self.requests),
            "retries": self.retries,
            "bytes_raw": self.bytes_raw,
            "bytes_gzip": self.bytes_gzip,
            "latency_ms_max": round(self.latency_ms_max, 1),
        }


class Delivery:
    """One invocation's requests: submitted as batches fill, several in flight, awaited at the end."""

    def __init__(
        self,
        settings: Settings,
        destination: Destination,
        credentials: CredentialsSource,
        sender: Sender,
        executor: Executor,
        backoff: Backoff,
        ledger: Ledger,
        deadline: Deadline,
    ) -> None:
        self._settings = settings
        self._destination = destination
        self._credentials = credentials
        self._sender = sender
        self._executor = executor
        self._backoff = backoff
        self._ledger = ledger
        self._outcomes = Outcomes(ledger)  # what sender threads write goes through here
        self._deadline = deadline
        # Credentials first: when they cannot be had, nothing can work and the whole batch is retried.
        self._endpoint = destination.endpoint(settings.api_url, credentials.get(within=deadline.remaining()))
        self._refreshed = False
        self._futures: list[tuple[Future[None], Batch]] = []
        self._stop = threading.Event()
        self._stop_reason = ""
        self._lock = threading.Lock()
        self._stats = DeliveryStats()

    def submit(self, batch: Batch) -> None:
        self._futures.append((self._executor.submit(self._deliver, batch), batch))

    def wait(self) -> DeliveryStats:
        """Until every request has ended, but never past the deadline: a request can outlive it (a sender stuck
        in a call), and the invocation must answer all the same. What is unsettled then is reported."""
        unsettled: list[tuple[Future[None], Batch]] = []
        for future, batch in self._futures:
            try:
                future.result(timeout=max(self._deadline.remaining(), 0.0))
            except TimeoutError:
                unsettled.append((future, batch))
            except Exception as exc:  # a bug must not lose events: they are reported for retry
                self._ledger.fail_all(batch.indices, Failure(f"internal error while sending: {exc!r}"))
        self._outcomes.close()  # from here on the ledger is the caller's alone
        if unsettled:
            with self._lock:
                if not self._stop.is_set():  # threads still sending stop at their next step
                    self._stop_reason = "the invocation ended"
                    self._stop.set()
            failure = Failure("not confirmed before the function's time ran out")
            for future, batch in unsettled:
                future.cancel()  # one that has not started never will
                self._ledger.fail_unsettled(batch.indices, failure)
        with self._lock:  # a request that outlived the invocation may still be counted: hand out a copy
            return self._stats.copy()

    def _deliver(self, batch: Batch) -> None:
        payload = batch.payload()
        body = self._destination.encode(payload)
        outcomes = self._outcomes
        attempt = 0
        while True:
            if self._stop.is_set():
                outcomes.fail_all(batch.indices, Failure(self._stop_reason))
                return
            remaining = self._deadline.remaining()
            if remaining <= 0:
                outcomes.fail_all(batch.indices, Failure("not sent: the function's time ran out"))
                return
            attempt += 1
            endpoint = self._endpoint
            verdict, response = self._send(
                endpoint, body, len(payload), batch, min(self._settings.request_timeout, remaining)
            )
            kind = verdict.kind
            if kind == REAUTHORIZE and self._fresh_credentials(endpoint):
                continue
            if kind == ACCEPTED:
                outcomes.imported(batch.indices)
                return
            if kind == PARTIAL:
                self._partial(batch, verdict)
                return
            if kind == REFUSE_ALL:
                for position in range(len(batch)):
                    self._refuse(batch, position, verdict.failure)
                return
            if kind == SPLIT:
                if len(batch) == 1:
                    self._refuse(batch, 0, verdict.failure)
                    return
                for half in batch.split():
                    self._deliver(half)
                return
            if kind in (HALT, REAUTHORIZE):
                self._halt(verdict.problem)
                outcomes.fail_all(batch.indices, Failure(self._stop_reason))
                return
            assert kind == RETRY
            if attempt >= self._settings.max_attempts:
                outcomes.fail_all(batch.indices, Failure(f"gave up after {attempt} attempts; last: {verdict.problem}"))
                return
            delay = self._backoff.delay(attempt, response.retry_after if response is not None else None)
            if delay >= self._deadline.remaining():
                outcomes.fail_all(batch.indices, Failure(f"no time left to retry; last: {verdict.problem}"))
                return
            with self._lock:
                self._stats.retries += 1
            self._stop.wait(delay)

    def _send(
        self, endpoint: Endpoint, body: bytes, raw_size: int, batch: Batch, timeout: float
    ) -> tuple[Verdict, Response | None]:
        """The destination's reading of the answer; a retry when no answer came."""
        started = time.perf_counter()
        try:
            response = self._sender.send(endpoint, body, timeout)
        except TransportError as exc:
            request_class = "timeout" if isinstance(exc, RequestTimeout) else "connection"
            self._count(request_class, raw_size, len(body), started)
            return Verdict(RETRY, problem=str(exc)), None
        verdict = self._destination.read(response, batch)
        status = response.status
        status_class = str(status) if status in (400, 401, 403, 413, 429) else f"{status // 100}xx"
        self._count(verdict.request_class or status_class, raw_size, len(body), started)
        return verdict, response

    def _count(self, request_class: str, raw_size: int, gzip_size: int, started: float) -> None:
        with self._lock:
            stats = self._stats
            stats.requests[request_class] += 1
            stats.bytes_raw += raw_size
            stats.bytes_gzip += gzip_size
            stats.latencies_ms.append((time.perf_counter() - started) * 1000)

    def _fresh_credentials(self, refused: Endpoint) -> bool:
        """After a 401: read the credentials again, once per invocation; True if there are new ones to try."""
        with self._lock:
            if self._endpoint != refused:
                return True  # another request already refreshed them
            if self._refreshed:
                return False
            self._refreshed = True
            try:
                credentials = self._credentials.get(refresh=True, within=self._deadline.remaining())
            except ForwarderError:
                return False
            fresh = self._destination.endpoint(self._settings.api_url, credentials)
            if fresh == refused:
                return False
            self._endpoint = fresh
            return True

    def _halt(self, reason: str) -> None:
        """Credentials refused (or the URL is wrong): every request would fail the same way."""
        if not self._stop.is_set():
            self._stop_reason = f"{reason} (nothing more sent this invocation)"
            self._stop.set()

    def _refuse(self, batch: Batch, position: int, failure: Failure | None) -> None:
        """A permanent refusal: the event is parked as it was sent, so it is read back from the batch."""
        assert failure is not None  # refuse_all and split verdicts carry their failure
        self._outcomes.fail(batch.indices[position], FailedEvent(failure, codec.loads(batch.body(position))))

    def _partial(self, batch: Batch, verdict: Verdict) -> None:
        imported = []
        for position, index in enumerate(batch.indices):
            refusal = verdict.refused.get(position)
            if refusal is not None:
                self._refuse(batch, position, refusal)
            elif verdict.unplaced:
                # Mixpanel refused something we cannot place: resend the rest (dedup makes it safe).
                self._outcomes.fail(index, FailedEvent(Failure("Mixpanel's 400 named a record that cannot be matched")))
            else:
                imported.append(index)
        self._outcomes.imported(imported)
