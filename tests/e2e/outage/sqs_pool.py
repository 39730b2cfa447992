"""An SQS event source mapping as Lambda runs one, on the scaled clock: a poller gathers a batch (up to the batch
size, the batching window or 6 MB) and hands it to a free container, at most MaximumConcurrency invocations at once;
each container answers, and its batch's messages are deleted but for those it reports. Visibility, redrive to the
dead-letter queue and retention are moto's (moto_scaled.py), so whatever the function does to a message's
visibility holds.

The batching window counts only the time the poller waits for messages, not its own ReceiveMessage calls: Lambda's
pollers gather a full batch in far less than a window, ours need real milliseconds per call, which the scaled clock
would turn into most of the window. The records, the partial batch response's rules and the deletes are the
simulator's (esm.py, esm_sqs.py).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.esm import MAX_INVOKE_PAYLOAD_BYTES, Handler, MappingStats, check_fifo_rule, invoke, reported_identifiers
from tests.e2e.esm_sqs import SQS_RECEIVE_MAX, SqsMapping
from tests.e2e.outage.clock import ScaledClock
from tests.e2e.outage.fleet import Fleet
from tests.e2e.outage.invocations import InvocationLog
from tests.e2e.outage.stack import QueueSource

IDLE_S = 1.0  # scaled seconds between receives while a queue has nothing visible (Lambda long-polls)
MIN_IDLE_REAL_S = 0.05  # and at least this, in real time: an empty receive costs moto a scan of the queue


class SqsPool:
    """One queue's mapping: run() is the poller; invocations run in a pool of MaximumConcurrency containers."""

    def __init__(
        self,
        sqs: Any,
        source: QueueSource,
        handler: Handler,
        *,
        clock: ScaledClock,
        fleet: Fleet,
        log: InvocationLog,
        function_timeout_s: int,
    ) -> None:
        self.source = source
        self.stats = MappingStats()
        self._sqs = sqs
        self._handler = handler
        self._clock = clock
        self._fleet = fleet
        self._log = log
        self._timeout_ms = max(1, round(function_timeout_s * 1000 / clock.scale))
        self._helper = SqsMapping(sqs, source.queue_url, handler, batch_size=source.batch_size)
        self._slots = threading.BoundedSemaphore(source.max_concurrency)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._containers = ThreadPoolExecutor(source.max_concurrency, thread_name_prefix=f"{source.name}-container")

    def run(self, stop: threading.Event) -> None:
        idle = max(MIN_IDLE_REAL_S, self._clock.real(IDLE_S))
        while not stop.is_set():
            if not self._slots.acquire(timeout=idle):
                continue  # every container busy: Lambda reads no more until one is free
            messages, records = self._gather(stop, idle)
            if not records:
                self._slots.release()
                stop.wait(idle)
                continue
            with self._lock:
                self._in_flight += 1
            self._containers.submit(self._invoke, messages, records)

    def close(self) -> None:
        self._containers.shutdown(wait=True)

    def idle(self) -> bool:
        """No invocation running, and nothing in the queue (visible, in flight or delayed)."""
        with self._lock:
            if self._in_flight:
                return False
        return bool(self._helper.drained())

    def only_hidden(self) -> bool:
        """No invocation running and nothing visible: what the queue still holds waits out a visibility timeout."""
        with self._lock:
            if self._in_flight:
                return False
        answer = self._sqs.get_queue_attributes(
            QueueUrl=self.source.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(answer["Attributes"]["ApproximateNumberOfMessages"]) == 0

    def _gather(self, stop: threading.Event, idle: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        messages: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        size = len(b'{"Records":[]}')
        waited = 0.0
        window = self._clock.real(self.source.window_s)
        while len(records) < self.source.batch_size:
            answer = self._sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self.source.batch_size - len(records)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received: list[dict[str, Any]] = answer.get("Messages", [])
            for position, message in enumerate(received):
                record = self._helper._record(message)
                grown = size + len(json.dumps(record)) + 1
                if records and grown > MAX_INVOKE_PAYLOAD_BYTES:
                    self._helper._release(received[position:])  # over 6 MB: back to the queue, in order
                    return messages, records
                messages.append(message)
                records.append(record)
                size = grown
            if received:
                continue
            if not records or waited >= window or stop.is_set():
                break
            pause = min(idle, window - waited)
            stop.wait(pause)
            waited += pause
        return messages, records

    def _invoke(self, messages: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
        try:
            self._fleet.serving(self.source.name)
            stats = MappingStats()
            identifiers = [record["messageId"] for record in records]
            started = self._clock.now()
            answered, response = invoke(
                self._handler,
                {"Records": records},
                stats,
                name=f"{self.source.function}-{self.source.name}",
                timeout_ms=self._timeout_ms,
                before_invoke=None,
            )
            self._log.add(self.source.name, threading.current_thread().name, started, self._clock.now(), len(records))
            if answered:
                reported = reported_identifiers(response, identifiers)
                if self._helper.fifo:
                    check_fifo_rule(reported, identifiers)
                kept = set(reported)
                stats.reported += len(kept)
                self._helper._delete([message for message in messages if message["MessageId"] not in kept])
            with self._lock:
                self.stats = self.stats.merge(stats)
        except BaseException as exc:  # a broken answer (esm.py's checks): the run must fail, naming it
            with self._lock:
                self.stats.handler_errors.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            with self._lock:
                self._in_flight -= 1
            self._slots.release()
