"""Producers that keep sending, outage or not: a plan of the e2e producers (workload.py: events, user and group
updates, in every payload shape of each source, vendors' messages among them, some poison) sent at a steady rate on
the scaled clock, each source's records spread evenly from `start` to `end`; and when each message was sent, so
that the time its backlog took to drain can be told."""

from __future__ import annotations

from typing import Any

from tests.e2e.markers import markers_in, markers_in_bytes
from tests.e2e.outage.clock import ScaledClock
from tests.e2e.plan import Plan
from tests.e2e.sending import fifo_entries, send_entries, send_kinesis, sqs_entries
from tests.e2e.workload import build_plan

# Records per call at most: a tick's share is sent in calls this size, so no send holds moto for long.
CHUNK = 50


class SteadySender:
    """Sends a plan's records to the standard queue, the FIFO queue and the stream, each source at its own steady
    rate, so that all end together at `end`."""

    def __init__(
        self,
        clients: Any,
        urls: dict[str, str],
        stream: str,
        plan: Plan,
        clock: ScaledClock,
        *,
        start: float,
        end: float,
    ) -> None:
        self._clients = clients
        self._clock = clock
        self._start = start
        self._end = end
        self._sources: dict[str, list[Any]] = {
            "sqs": sqs_entries(plan.sqs_bodies),
            "sqs-fifo": fifo_entries(plan.fifo_messages),
            "kinesis": list(plan.kinesis_records),
        }
        self._sent = dict.fromkeys(self._sources, 0)
        self._urls = urls
        self._stream = stream
        self.sent_at: dict[str, float] = {}  # marker -> when its record was sent

    def step(self) -> bool:
        now = self._clock.now()
        progress = min(1.0, max(0.0, (now - self._start) / (self._end - self._start)))
        did = False
        for source, items in self._sources.items():
            due = len(items) if progress >= 1.0 else int(len(items) * progress)
            while self._sent[source] < due:
                chunk = items[self._sent[source] : min(due, self._sent[source] + CHUNK)]
                self._send(source, chunk)
                self._sent[source] += len(chunk)
                did = True
        return did

    def done(self) -> bool:
        return all(self._sent[source] == len(items) for source, items in self._sources.items())

    def _send(self, source: str, chunk: list[Any]) -> None:
        now = self._clock.now()
        if source == "kinesis":
            send_kinesis(self._clients.kinesis, self._stream, chunk)
            found = set().union(*(markers_in_bytes(data) for data, _ in chunk))
        else:
            send_entries(self._clients.sqs, self._urls[source], chunk)
            found = set().union(*(markers_in(entry["MessageBody"]) for entry in chunk))
        for marker in found:
            self.sent_at.setdefault(marker, now)


def steady_plan(
    messages: int, *, tag: str, seed: int, clock: ScaledClock, max_message_bytes: int, poison_rate: float
) -> Plan:
    """About `messages` messages over the three sources (workload.py's shares), without the outsized ones: they
    test parking, not riding through."""
    return build_plan(
        messages,
        tag=tag,
        seed=seed,
        now_s=int(clock.now()),
        sqs_max_message_bytes=max_message_bytes,
        poison_rate=poison_rate,
        huge_events=0,
    )
