"""Whether Mixpanel answers, as this container last found it, and what an invocation sends while it does not.

Lambda delivers a reported record again whatever Mixpanel's state: during an outage, each invocation would spend its
attempts and backoffs (a minute and more) on requests that fail. So an invocation that gave up on a request for a
transient reason, and had none answered, marks Mixpanel down for the container; the next ones probe: their first
batch goes alone, once, with a short timeout, and the others wait for its verdict. An answer (any but a transient
failure) marks Mixpanel up and the invocation goes on as usual; a transient failure ends it: nothing else is sent,
and every message not sent is reported, saying since when Mixpanel is unavailable. A 429 is an answer: Mixpanel is up
and throttling, which the in-flight limit (in_flight.py) and each request's backoff answer, not probing.

Probes are spaced as Mixpanel advises retries (retry.Backoff: 2 s doubling to 60 s, plus 1-5 s of jitter). A Kinesis
invocation waits for the container's next probe time (Lambda retries a failed batch at once, so without the wait a
shard would probe as fast as invocations end); an SQS one does not (its records come back after their visibility).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .batching import Batch
from .model import Failure
from .retry import Backoff
from .timefmt import utc_text


class Outage:
    """Mixpanel down: since when (the wall clock, for reasons), when to probe next (the monotonic clock), how many
    failures so far (the first one's, then each probe's). Immutable: a failed probe makes a new one."""

    __slots__ = ("failures", "probe_at", "since")

    def __init__(self, since: float, probe_at: float, failures: int) -> None:
        self.since = since
        self.probe_at = probe_at
        self.failures = failures

    def failure(self, probe: str) -> Failure:
        """The reason of every message an invocation did not send for it; `probe` says what the probe met."""
        return Failure(f"Mixpanel unavailable since {utc_text(self.since)}: the probe {probe}")


class Availability:
    """Up, or an Outage; one per container (the Forwarder's), read and written by invocations and sender threads."""

    def __init__(
        self,
        backoff: Backoff,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backoff = backoff
        self._clock = clock
        self._monotonic = monotonic
        self._outage: Outage | None = None
        self._lock = threading.Lock()

    def outage(self) -> Outage | None:
        """None while Mixpanel is up."""
        return self._outage

    def answered(self) -> None:
        """A request got an answer that is not a transient failure: Mixpanel is up."""
        if self._outage is not None:  # the usual case costs one read
            with self._lock:
                self._outage = None

    def gave_up(self) -> None:
        """An invocation gave up on a request for a transient reason and had none answered: Mixpanel is down (from
        now, unless it already was)."""
        with self._lock:
            if self._outage is None:
                self._outage = Outage(self._clock(), self._monotonic() + self._backoff.delay(1), 1)

    def probe_failed(self) -> Outage:
        """A probe met a transient failure: the next probe is due later (Mixpanel's backoff, one step further)."""
        with self._lock:
            outage = self._outage or Outage(self._clock(), 0.0, 0)
            failures = outage.failures + 1
            self._outage = Outage(outage.since, self._monotonic() + self._backoff.delay(failures), failures)
            return self._outage

    def until_probe(self) -> float:
        """Seconds until the next probe is due (0 when it is, or when Mixpanel is up)."""
        outage = self._outage
        return 0.0 if outage is None else max(outage.probe_at - self._monotonic(), 0.0)


class ProbeGate:
    """One invocation that found Mixpanel down: its first batch is the probe (started at once), the others are held
    until the probe's verdict. `open()`: they all go, and any later one at once; `close(failure)`: they and any later
    one are refused with `failure`, unsent. Only the first verdict counts. Thread-safe: the probe's thread decides
    while the pipeline submits, and the held batches start in the order submitted (profile updates keep their order).
    """

    def __init__(
        self,
        outage: Outage,
        start: Callable[[Batch, bool], None],
        refuse: Callable[[Batch, Failure], None],
    ) -> None:
        self.outage = outage
        self._start = start  # (batch, is the probe)
        self._refuse = refuse
        self._lock = threading.Lock()
        self._probing = False
        self._held: list[Batch] = []
        self._open = False
        self._failure: Failure | None = None
        self.decided = threading.Event()

    def submit(self, batch: Batch) -> None:
        with self._lock:
            if self._open:
                self._start(batch, False)
                return
            failure = self._failure
            if failure is None:
                if self._probing:
                    self._held.append(batch)
                else:
                    self._probing = True
                    self._start(batch, True)
                return
        self._refuse(batch, failure)

    def submitted_all(self) -> None:
        """Every batch has been submitted: with none to probe with (each message refused before sending), there is
        no verdict to wait for."""
        with self._lock:
            if not self._probing:
                self.decided.set()

    def open(self) -> None:
        with self._lock:
            if self.decided.is_set():
                return
            self._open = True
            for batch in self._held:  # under the lock: no batch submitted later starts before them
                self._start(batch, False)
            self._held.clear()
            self.decided.set()

    def close(self, failure: Failure) -> None:
        with self._lock:
            if self.decided.is_set():
                return
            self._failure = failure
            held, self._held = self._held, []
            self.decided.set()
        for batch in held:
            self._refuse(batch, failure)
