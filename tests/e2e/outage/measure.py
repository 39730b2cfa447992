"""What a scenario showed: where every produced message ended (accounting.py's states, with the places the platform
handed messages to told apart), what riding through cost while Mixpanel was down, how long the backlog took to
drain once it was back, and the goodput under a rate limit."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tests.e2e.accounting import Accounting, account
from tests.e2e.markers import markers_in, markers_in_bytes
from tests.e2e.outage.invocations import Window
from tests.e2e.outage.landings import dead_letter_markers
from tests.e2e.outage.scenario import Run
from tests.e2e.plan import Message
from tests.e2e.queues import parked_documents, receive_everything

SOURCE_DLQ = "in a source DLQ"
STRANDED = "stranded"  # handed on by Lambda (Kinesis on-failure) and not forwarded again
LEFT = "still in a source"  # not drained when the run ended


@dataclass
class Measured:
    name: str
    accounting: Accounting
    drained: bool
    down: list[Window]
    recovered: float | None  # when Mixpanel was last back (scaled clock)
    invocation_s: dict[str, float]  # while down, by mapping (unscaled seconds)
    invocations: dict[str, int]  # started while down, by mapping
    shards: int
    drain_s: float | None  # from the last recovery until every message sent before it had landed
    drain_by_source: dict[str, float | None] = field(default_factory=dict)
    goodput: float | None = None  # % of the rate limit
    goodput_windows: int = 0  # the whole windows it was measured over
    tail_s: float | None = None  # after the backlog ended, until the last event landed (scaled seconds)
    limit_per_s: float | None = None
    resent_by_forwarder: int = 0
    notes: list[str] = field(default_factory=list)

    def count(self, state: str, place: str | None = None) -> int:
        return sum(1 for marker in self.accounting.planned if self._is(marker, state, place))

    def _is(self, marker: str, state: str, place: str | None) -> bool:
        found = self.accounting.state(marker)
        return found == state and (place is None or self.accounting.redriven.get(marker) == place)

    @property
    def lost(self) -> int:
        return self.count("lost")

    @property
    def in_source_dlq(self) -> int:
        return self.count("redriven", SOURCE_DLQ)

    @property
    def stranded(self) -> int:
        return self.count("redriven", STRANDED)

    @property
    def left(self) -> int:
        return self.count("redriven", LEFT)

    @property
    def duplicated_events(self) -> int:
        planned = self.accounting.planned
        return sum(1 for m, n in self.accounting.landed.items() if n > 1 and planned[m].message is Message.EVENT)

    @property
    def updates_resent(self) -> int:
        return sum(self.accounting.applied_more_than_once(kind) for kind in (Message.USER, Message.GROUP))

    @property
    def down_hours(self) -> float:
        return sum(end - start for start, end in self.down) / 3600


def down_windows(run: Run) -> list[Window]:
    """The spells Mixpanel was down, on the scaled clock."""
    windows: list[Window] = []
    for down in run.scenario.down:
        start, end = run.start + down.start, run.start + down.end
        if down.down_s is None or down.up_s is None:
            windows.append((start, end))
            continue
        spell = start
        while spell < end:
            windows.append((spell, min(spell + down.down_s, end)))
            spell += down.down_s + down.up_s
    return windows


def measure(run: Run) -> Measured:
    handed_on = {s for batch in run.on_failure.batches for s in batch.sequences}
    documents, _ = parked_documents(run.landings.bodies, handed_on)
    redriven = {
        SOURCE_DLQ: set().union(*(dead_letter_markers(c.bodies, run.clients.s3) for c in run.dead_letters.values())),
        STRANDED: {m for batch in run.on_failure.batches for data in batch.data for m in markers_in_bytes(data)},
        LEFT: _leftovers(run) if not run.drained else set(),
    }
    sink = run.sink
    accounting = account(run.plan.events, sink.events, sink.updates, sink.duplicates, documents, redriven)
    windows = down_windows(run)
    recovered = max((end for _, end in windows), default=None)
    measured = Measured(
        run.scenario.name,
        accounting,
        run.drained,
        windows,
        recovered,
        run.log.seconds_within(windows),
        run.log.count_within(windows),
        len(run.shards),
        None,
        resent_by_forwarder=run.tally.resent_not_idempotent,
    )
    if recovered is not None:
        measured.drain_s = _drain(run, recovered, None)
        measured.drain_by_source = {s: _drain(run, recovered, s) for s in ("sqs", "sqs-fifo", "kinesis")}
    if run.scenario.rate_limit is not None:
        window, events = run.scenario.rate_limit
        measured.limit_per_s = events / window
        measured.goodput, measured.goodput_windows, measured.tail_s = _goodput(run, accounting, window, events)
    if run.moto.expired:
        measured.notes.append(f"{len(run.moto.expired)} SQS messages expired (retention) before they were read")
    trimmed = sum(shard.trimmed for shard in run.shards)
    if trimmed:
        measured.notes.append(f"{trimmed} Kinesis records passed the stream's retention before they were read")
    return measured


def _drain(run: Run, recovered: float, source: str | None) -> float | None:
    """Scaled seconds from `recovered` until every message of `source` (None: all) sent before it had landed."""
    planned = run.plan.events
    waiting = [
        marker
        for marker, sent in run.sender.sent_at.items()
        if sent < recovered and (source is None or planned[marker].source == source)
    ]
    landed = [run.landings.at.get(marker) for marker in waiting]
    if any(at is None for at in landed):
        return None
    return max([0.0, *(at - recovered for at in landed if at is not None)])


def _goodput(run: Run, accounting: Accounting, window: float, limit: int) -> tuple[float | None, int, float | None]:
    """Events imported as a share of what the limit admits, over whole windows from the first 429 (the limit biting)
    until the backlog ended: production over, nothing visible in a queue or unread in a shard, nothing being invoked.
    And the seconds the last events took after that.

    While the backlog lasts, a forwarder that used the limit fully would import `limit` in every window, so the share
    is at most 100% (over a span not cut in windows, the first window's burst would count towards it); one that sent
    below it makes the backlog last longer, over more windows. What lands after are records reported during the
    throttling and hidden for their backoff (docs/delivery.md): no demand on the limit is left until they return."""
    throttled = run.landings.throttled
    if throttled is None:
        return None, 0, None
    times = sorted(
        run.landings.at[m]
        for m, p in accounting.planned.items()
        if p.message is Message.EVENT and accounting.landed[m] and m in run.landings.at
    )
    if not times:
        return None, 0, None
    backlogged_until = run.backlog_ended if run.backlog_ended is not None else times[-1]
    tail = max(times[-1] - backlogged_until, 0.0)
    windows = int((backlogged_until - throttled) // window)
    if windows < 1:
        return None, 0, tail
    admitted = sum(1 for at in times if throttled <= at < throttled + windows * window)
    return 100.0 * admitted / (limit * windows), windows, tail


def _leftovers(run: Run) -> set[str]:
    """The markers still in a source queue or unread in the stream when a run ended undrained."""
    found: set[str] = set()
    sqs = run.clients.sqs
    for pool in run.pools:
        for message in receive_everything(sqs, pool.source.queue_url, delete=True):
            found |= markers_in(message["Body"])
    for shard in run.shards:
        found |= {m for data in shard.unread() for m in markers_in_bytes(data)}
    return found


def by_state(measured: Measured) -> dict[str, Counter[str]]:
    """Counts by row (state, and place for the platform's) and column (kind of message, total)."""
    rows: dict[str, Counter[str]] = {}
    accounting = measured.accounting
    for marker, planned in accounting.planned.items():
        state = accounting.state(marker)
        row = accounting.redriven[marker] if state == "redriven" else state
        counts = rows.setdefault(row, Counter())
        counts[str(planned.message)] += 1
        counts["total"] += 1
    return rows
