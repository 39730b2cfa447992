"""Sending batches to /import and turning every answer into event states.

| answer | outcome |
|---|---|
| 2xx with Mixpanel's answer | every event of the request imported (`num_records_imported` is the number sent) |
| 2xx without it (a proxy's page, another count) | not confirmed: retried like a 5xx (dedup makes it safe) |
| 400 with failed_records | listed events refused for good (parked); the rest imported; never resent |
| 400 without failed_records | every event refused for good, with Mixpanel's error as the reason |
| 413 | the request is split in halves and each is sent again; a single event is refused for good |
| 408, 429, 5xx, timeout, reset | retried with backoff (or Retry-After) while attempts and time remain |
| still in flight at the deadline | reported for retry; whatever its thread learns later is ignored |
| 401 | the credentials are read again once (a rotated secret) and the request resent; if they are unchanged or
  refused again, as below |
| 401, 403, other 4xx | nothing more is sent this invocation; nothing of it is acknowledged |
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from . import codec
from .batching import Batch
from .credentials import Endpoint
from .deadline import Deadline
from .errors import ForwarderError, RequestTimeout, TransportError
from .ledger import FailedEvent, Ledger, Outcomes
from .model import REFUSED, Failure
from .retry import TRANSIENT_STATUSES, Backoff
from .settings import Settings
from .transport import Response, Sender

_SNIPPET = 200  # characters of an error body kept in a reason
UNCONFIRMED = "2xxUnconfirmed"  # the request class (metrics.REQUEST_CLASSES) of a 2xx that is not Mixpanel's answer

Refresh = Callable[[], Endpoint]


class Delivery:
    """One invocation's requests: submitted as batches fill, several in flight, awaited at the end."""

    def __init__(
        self,
        settings: Settings,
        sender: Sender,
        executor: Executor,
        backoff: Backoff,
        ledger: Ledger,
        deadline: Deadline,
        endpoint: Endpoint,
        refresh: Refresh,
    ) -> None:
        self._settings = settings
        self._endpoint = endpoint
        self._refresh = refresh
        self._refreshed = False
        self._sender = sender
        self._executor = executor
        self._backoff = backoff
        self._ledger = ledger
        self._outcomes = Outcomes(ledger)  # what sender threads write goes through here
        self._deadline = deadline
        self._futures: list[tuple[Future[None], Batch]] = []
        self._stop = threading.Event()
        self._stop_reason = ""
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.retries = 0
        self.bytes_raw = 0
        self.bytes_gzip = 0
        self.latency_ms: list[float] = []

    def submit(self, batch: Batch) -> None:
        self._futures.append((self._executor.submit(self._deliver, batch), batch))

    def wait(self) -> None:
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
        if not unsettled:
            return
        with self._lock:
            if not self._stop.is_set():  # threads still sending stop at their next step
                self._stop_reason = "the invocation ended"
                self._stop.set()
        failure = Failure("not confirmed before the function's time ran out")
        for future, batch in unsettled:
            future.cancel()  # one that has not started never will
            self._ledger.fail_unsettled(batch.indices, failure)

    def stats(self) -> dict[str, Any]:
        with self._lock:  # a request that outlived the invocation may still be counted
            return {
                "requests": dict(self.requests),
                "retries": self.retries,
                "bytes_raw": self.bytes_raw,
                "bytes_gzip": self.bytes_gzip,
                "latency_ms_max": round(max(self.latency_ms), 1) if self.latency_ms else 0.0,
                "latencies_ms": [round(latency, 1) for latency in self.latency_ms],
            }

    def _deliver(self, batch: Batch) -> None:
        payload = batch.payload()
        body = codec.gzip(payload)
        attempt = 0
        while True:
            if self._stop.is_set():
                self._outcomes.fail_all(batch.indices, Failure(self._stop_reason))
                return
            remaining = self._deadline.remaining()
            if remaining <= 0:
                self._outcomes.fail_all(batch.indices, Failure("not sent: the function's time ran out"))
                return
            attempt += 1
            endpoint = self._endpoint
            timeout = min(self._settings.request_timeout, remaining)
            response, problem = self._send(endpoint, body, len(payload), len(batch), timeout)
            if response is not None:
                status = response.status
                if status == 401 and self._fresh_credentials(endpoint):
                    continue
                if 200 <= status < 300:
                    self._outcomes.imported(batch.indices)
                    return
                if status == 400:
                    self._strict_answer(batch, response)
                    return
                if status == 413:
                    self._too_large(batch, response)
                    return
                if status not in TRANSIENT_STATUSES:
                    self._halt(f"Mixpanel answered {status}: {_snippet(response.body)}")
                    self._outcomes.fail_all(batch.indices, Failure(self._stop_reason))
                    return
                problem = f"Mixpanel answered {status}: {_snippet(response.body)}"
            if attempt >= self._settings.max_attempts:
                self._outcomes.fail_all(batch.indices, Failure(f"gave up after {attempt} attempts; last: {problem}"))
                return
            delay = self._backoff.delay(attempt, response.retry_after if response is not None else None)
            if delay >= self._deadline.remaining():
                self._outcomes.fail_all(batch.indices, Failure(f"no time left to retry; last: {problem}"))
                return
            with self._lock:
                self.retries += 1
            self._stop.wait(delay)

    def _send(
        self, endpoint: Endpoint, body: bytes, raw_size: int, events: int, timeout: float
    ) -> tuple[Response | None, str]:
        """The answer, or None and why there is none: no HTTP answer, or a 2xx that is not Mixpanel's."""
        started = time.perf_counter()
        try:
            response = self._sender.send(endpoint, body, timeout)
        except TransportError as exc:
            self._count("timeout" if isinstance(exc, RequestTimeout) else "connection", raw_size, len(body), started)
            return None, str(exc)
        status = response.status
        if 200 <= status < 300 and not _confirms(response.body, events):
            # A proxy or a captive portal answering in Mixpanel's place: nothing says the events arrived.
            self._count(UNCONFIRMED, raw_size, len(body), started)
            return None, f"a {status} that is not Mixpanel's answer for {events} events: {_snippet(response.body)}"
        status_class = str(status) if status in (400, 401, 403, 413, 429) else f"{status // 100}xx"
        self._count(status_class, raw_size, len(body), started)
        return response, ""

    def _count(self, status_class: str, raw_size: int, gzip_size: int, started: float) -> None:
        with self._lock:
            self.requests[status_class] += 1
            self.bytes_raw += raw_size
            self.bytes_gzip += gzip_size
            self.latency_ms.append((time.perf_counter() - started) * 1000)

    def _fresh_credentials(self, refused: Endpoint) -> bool:
        """After a 401: read the credentials again, once per invocation; True if there are new ones to try."""
        with self._lock:
            if self._endpoint != refused:
                return True  # another request already refreshed them
            if self._refreshed:
                return False
            self._refreshed = True
            try:
                fresh = self._refresh()
            except ForwarderError:
                return False
            if fresh == refused:
                return False
            self._endpoint = fresh
            return True

    def _halt(self, reason: str) -> None:
        """Credentials refused (or the URL is wrong): every request would fail the same way."""
        if not self._stop.is_set():
            self._stop_reason = f"{reason} (nothing more sent this invocation)"
            self._stop.set()

    def _refuse(self, batch: Batch, position: int, failure: Failure) -> None:
        """A permanent refusal: the event is parked as it was sent, so it is read back from the batch."""
        self._outcomes.fail(batch.indices[position], FailedEvent(failure, codec.loads(batch.body(position))))

    def _too_large(self, batch: Batch, response: Response) -> None:
        if len(batch) == 1:
            self._refuse(batch, 0, Failure(f"too large for one request: {_snippet(response.body)}", "event", REFUSED))
            return
        for half in batch.split():
            self._deliver(half)

    def _strict_answer(self, batch: Batch, response: Response) -> None:
        """400 in strict mode: the listed events are refused, the others of the request were imported."""
        answer = _json(response.body)
        entries = answer.get("failed_records") if isinstance(answer, dict) else None
        if not isinstance(entries, list) or not entries:
            error = answer.get("error") if isinstance(answer, dict) else None
            failure = Failure(f"Mixpanel refused the request: {error or _snippet(response.body)}", "request", REFUSED)
            for each in range(len(batch)):
                self._refuse(batch, each, failure)
            return
        refused: dict[int, Failure] = {}
        unmatched = False
        by_insert_id: dict[str, int] | None = None
        for entry in entries:
            position = None
            field = message = None
            if isinstance(entry, dict):
                index = entry.get("index")
                if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(batch):
                    position = index
                field, message = entry.get("field"), entry.get("message")
                insert_id = entry.get("$insert_id", entry.get("insert_id"))
            else:
                insert_id = entry
            if position is None and isinstance(insert_id, str):
                if by_insert_id is None:
                    by_insert_id = self._insert_ids(batch)
                position = by_insert_id.get(insert_id)
            if position is None:
                unmatched = True
                continue
            refused[position] = Failure(
                str(message or "refused by Mixpanel in strict mode"),
                str(field) if field else "event",
                REFUSED,
            )
        imported = []
        for position, index in enumerate(batch.indices):
            refusal = refused.get(position)
            if refusal is not None:
                self._refuse(batch, position, refusal)
            elif unmatched:
                # Mixpanel refused something we cannot place: resend the rest (dedup makes it safe).
                self._outcomes.fail(index, FailedEvent(Failure("Mixpanel's 400 named a record that cannot be matched")))
            else:
                imported.append(index)
        self._outcomes.imported(imported)

    def _insert_ids(self, batch: Batch) -> dict[str, int]:
        ids: dict[str, int] = {}
        for position in range(len(batch)):
            event = codec.loads(batch.body(position))
            ids.setdefault(str(event["properties"].get("$insert_id")), position)
        return ids


def _confirms(body: bytes, events: int) -> bool:
    """Mixpanel's 200 says how many events it imported (`{"code":200,"num_records_imported":N,"status":"OK"}`)."""
    answer = _json(body)
    imported = answer.get("num_records_imported") if isinstance(answer, dict) else None
    return type(imported) is int and imported == events


def _json(body: bytes) -> Any:
    try:
        return codec.loads(body)
    except codec.JSONDecodeError:
        return None  # proxies answer HTML: the caller falls back to the raw text


def _snippet(body: bytes) -> str:
    return body[:_SNIPPET].decode("utf-8", "replace").strip() or "(empty body)"
