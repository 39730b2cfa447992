"""What a ride-through run prints: a table per scenario (where every message ended, by kind; then the cost of the
outage, the drain time and the goodput, in unscaled seconds, as Lambda and Mixpanel would see them) and the one line
`make e2e-outage` ends with."""

from __future__ import annotations

import re
from collections import Counter

from tests.e2e.outage.measure import LEFT, SOURCE_DLQ, STRANDED, Measured, by_state
from tests.e2e.outage.scenario import Run
from tests.e2e.plan import Message

_COLUMNS = [*(str(message) for message in Message), "total"]
_ROWS = (
    ("imported", "imported (events in the sink, updates applied)"),
    ("parked", "parked (the forwarder's dead-letter queue)"),
    (SOURCE_DLQ, "in a source DLQ"),
    (STRANDED, "stranded (handed on by Lambda, not forwarded again)"),
    (LEFT, "still in a source when the run ended"),
    ("lost", "lost"),
)
MAPPINGS = ("sqs", "sqs-fifo", "kinesis")
# What each scenario measured, for the line `make e2e-outage` ends with (__main__.py).
RESULTS: dict[str, list[Measured]] = {"outage": [], "backfill": []}


def render(run: Run, measured: Measured) -> str:
    scenario = run.scenario
    rows: list[tuple[str, Counter[str]]] = []
    sent: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = {}
    for planned in measured.accounting.planned.values():
        for counts in (sent, by_source.setdefault(planned.source, Counter())):
            counts[str(planned.message)] += 1
            counts["total"] += 1
    rows.append(("sent", sent))
    rows.extend((f"  to {source}", by_source.get(source, Counter())) for source in MAPPINGS)
    states = by_state(measured)
    rows.extend((label, states.get(state, Counter())) for state, label in _ROWS)
    width = max(len(label) for label, _ in rows) + 2
    head = (
        f"== {scenario.name}: SCALE {scenario.scale:g} (one real second is {scenario.scale:g} s), "
        f"{len(measured.accounting.planned):,} messages over {scenario.produce_s / 3600:.1f} h; "
        f"{'drained' if measured.drained else 'NOT drained'} in {run.real_s:.0f} s real =="
    )
    plan, minutes = run.plan, scenario.produce_s / 60
    records = {"sqs": len(plan.sqs_bodies), "sqs-fifo": len(plan.fifo_messages), "kinesis": len(plan.kinesis_records)}
    arrival = ", ".join(f"{source} {count / minutes:,.1f}" for source, count in records.items())
    lines = [
        head,
        f"producers, records a minute (each of 1 to 50 messages, by shape): {arrival}; {measured.shards} shards",
        f"{'':<{width}}" + "".join(f"{c:>15}" for c in _COLUMNS),
    ]
    lines.extend(f"{label:<{width}}" + "".join(f"{counts.get(c, 0):>15,}" for c in _COLUMNS) for label, counts in rows)
    lines.append(f"events imported twice under different $insert_ids: {measured.duplicated_events}")
    lines.append(
        f"profile updates applied more than once: {measured.updates_resent} "
        f"(the forwarder resent {measured.resent_by_forwarder} $add/$append after an answer that may have applied them)"
    )
    lines.extend(_outage_lines(measured))
    if measured.limit_per_s is not None:
        limit = f"{measured.limit_per_s * 60:,.0f} events a rolling minute"
        if measured.goodput is None:
            lines.append(f"goodput: not measured (the limit, {limit}, did not bite for a whole minute)")
        else:
            tail = (
                ""
                if measured.tail_s is None
                else f"; the records hidden for their backoff then landed over {measured.tail_s:,.0f} s more"
            )
            lines.append(
                f"goodput: {measured.goodput:.1f}% of the rate limit ({limit}), over the "
                f"{measured.goodput_windows} whole minutes from the first 429 until the backlog ended (nothing visible "
                f"in a source){tail}"
            )
    if run.backlog_ended is not None and scenario.rate_limit is not None:
        lines.append(
            f"backlog: production ended {scenario.produce_s:,.0f} s after it began; nothing was left visible in a "
            f"source {run.backlog_ended - run.start - scenario.produce_s:,.0f} s after that"
        )
    lines.append(_reasons_line(run))
    lines.append(_platform_line(run))
    lines.append(_sink_line(run))
    lines.extend(measured.notes)
    return "\n".join(lines)


def _outage_lines(measured: Measured) -> list[str]:
    if not measured.down:
        return []
    hours = measured.down_hours
    spent = measured.invocation_s
    per_hour = [f"{name} {spent.get(name, 0.0) / hours:,.0f} s per queue" for name in MAPPINGS[:2]]
    per_hour.append(f"kinesis {spent.get('kinesis', 0.0) / hours / measured.shards:,.0f} s per shard")
    others = sorted(set(spent) - set(MAPPINGS))
    per_hour.extend(f"{name} {spent[name] / hours:,.0f} s" for name in others)
    drain = "not drained" if measured.drain_s is None else f"{measured.drain_s:,.0f} s"
    sources = ", ".join(
        f"{source} {'not drained' if seconds is None else f'{seconds:,.0f} s'}"
        for source, seconds in measured.drain_by_source.items()
    )
    return [
        f"Mixpanel down {hours:.2f} h in {len(measured.down)} spell(s); invocations started while down: "
        + ", ".join(f"{name} {count:,}" for name, count in sorted(measured.invocations.items())),
        "invocation-seconds per hour of outage (unscaled, at the template's defaults): " + ", ".join(per_hour),
        f"drain time after recovery (unscaled): {drain} ({sources})",
    ]


def _reasons_line(run: Run) -> str:
    """Why the forwarder reported records for retry, most common first (times and counts in a reason as #)."""
    reasons: Counter[str] = Counter()
    for counted in run.tally.reasons.values():
        for reason, count in counted.items():
            if not reason.startswith(("record:", "event", "properties", "$", "operation", "userId")):  # parked
                reasons[re.sub(r"[0-9][0-9:.TZ-]*", "#", reason)[:110]] += count
    top = "; ".join(f"{reason} x{count:,}" for reason, count in reasons.most_common(4))
    return f"reported for retry, by reason: {top or 'none'}"


def _platform_line(run: Run) -> str:
    """What the simulated platform did: a timeout or function error is Lambda's, never the forwarder's answer."""
    parts = []
    for name, stats in [
        *((pool.source.name, pool.stats) for pool in run.pools),
        *((s.shard, s.stats) for s in run.shards),
    ]:
        parts.append(
            f"{name} {stats.invocations:,} invocations, {stats.records:,} records, {stats.reported:,} reported"
            + (f", {stats.timeouts} TIMEOUTS" if stats.timeouts else "")
            + (
                f", {len(stats.handler_errors)} FUNCTION ERRORS ({stats.handler_errors[0]})"
                if stats.handler_errors
                else ""
            )
        )
    containers = ", ".join(f"{name} {count}" for name, count in sorted(run.fleet.cold_starts.items()))
    handed = len(run.on_failure.batches)
    kind = run.on_failure.kind()
    timeout = run.deployment.function_timeout_s
    spans = sorted(i.end - i.start for i in run.log.all()) or [0.0]
    longest = spans[-1]
    real_ms = [f"{spans[int(q * (len(spans) - 1))] / run.clock.scale * 1000:,.0f}" for q in (0.5, 0.99)]
    return (
        "ESM: "
        + "; ".join(parts)
        + f"; containers (cold starts): {containers}"
        + f"; {handed} Kinesis batches handed to the on-failure destination ({kind}); longest invocation "
        + f"{longest:.1f} s of the {timeout} s timeout ({longest / run.clock.scale * 1000:,.0f} ms real of "
        + f"{timeout / run.clock.scale * 1000:,.0f}); in real time, the median invocation {real_ms[0]} ms, the 99th "
        + f"percentile {real_ms[1]} ms"
    )


def _sink_line(run: Run) -> str:
    stats = run.sink.stats()
    faults = Counter(stats.get("by_fault", {}))
    for endpoint in ("engage", "groups"):
        faults.update(stats.get(endpoint, {}).get("by_fault", {}))
    answered = ", ".join(f"{name} {count:,}" for name, count in sorted(faults.items()))
    return (
        f"sink: {stats['requests']:,} /import requests, {stats['imported']:,} events imported; faults met: {answered}"
    )


def last_line(outages: list[Measured], backfill: Measured | None) -> str:
    """The outage scenarios' worst lost (with what was still in a source when a run ended undrained: not landed),
    in source-dlq, stranded and duplicated events; the backfill's goodput (0 when not measured)."""

    def worst(values: list[int]) -> int:
        return max(values, default=0)

    goodput = backfill.goodput if backfill is not None and backfill.goodput is not None else 0.0
    return (
        f"ride-through: lost {worst([m.lost + m.left for m in outages])}, "
        f"in source-dlq {worst([m.in_source_dlq for m in outages])}, "
        f"stranded {worst([m.stranded for m in outages])}, "
        f"duplicated events {worst([m.duplicated_events for m in outages])}, "
        f"goodput {goodput:.1f}% of the rate limit"
    )
