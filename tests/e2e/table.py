"""What a run prints: the accounting as a fixed-width table — a column per kind of message (events, user updates,
group updates) and a total; a row per state, with where the messages came from and why they were parked or
redriven — then what the simulated platform, the sink and the forwarder did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from localdev.sink import MixpanelSink
from tests.e2e.accounting import Accounting
from tests.e2e.harness import Run
from tests.e2e.plan import Kind, Message, Planned

SOURCES = ("sqs", "sqs-fifo", "kinesis")
_COLUMNS = [*(str(message) for message in Message), "total"]
_SEGMENT_SPEC = ("segment", "rudderstack")


def render_table(accounting: Accounting, title: str) -> str:
    rows: list[tuple[str, Counter[str]]] = []

    def count(predicate: Callable[[str, Planned], bool]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for marker, planned in accounting.planned.items():
            if predicate(marker, planned):
                counts[str(planned.message)] += 1
                counts["total"] += 1
        return counts

    def per_kind(value: Callable[[Message], int]) -> Counter[str]:
        counts = Counter({str(message): value(message) for message in Message})
        counts["total"] = sum(counts.values())
        return counts

    def state(name: str) -> Callable[[str, Planned], bool]:
        return lambda m, p: accounting.state(m) == name

    rows.append(("sent", count(lambda m, p: True)))
    for source in SOURCES:
        rows.append((f"  to {source}", count(lambda m, p, s=source: p.source == s)))
    rows.append(("  valid", count(lambda m, p: p.kind is Kind.VALID)))
    rows.append(("  poison", count(lambda m, p: p.kind is not Kind.VALID)))
    rows.append(("  Segment spec (Segment, RudderStack)", count(lambda m, p: p.call.startswith(_SEGMENT_SPEC))))
    rows.append(("  Amplitude export", count(lambda m, p: p.call.startswith("amplitude"))))
    rows.append(("in the sink (events imported, updates applied)", count(state("imported"))))
    rows.append(("  of a vendor's message", count(lambda m, p: bool(p.call) and accounting.state(m) == "imported")))
    rows.append(("  duplicates dropped by dedup", Counter({"events": accounting.duplicates_dropped})))
    rows.append(("  updates applied twice or more", per_kind(accounting.applied_more_than_once)))
    rows.append(("parked", count(state("parked"))))
    rows.append(("  of a vendor's message", count(lambda m, p: bool(p.call) and accounting.state(m) == "parked")))
    classes = sorted({accounting.parked_class(m) for m in accounting.planned if accounting.state(m) == "parked"})
    for reason in classes:
        rows.append(
            (
                f"  {reason}",
                count(lambda m, p, r=reason: accounting.state(m) == "parked" and accounting.parked_class(m) == r),
            )
        )
    rows.append(("  parked twice or more (redelivered)", per_kind(accounting.parked_more_than_once)))
    rows.append(("redriven", count(state("redriven"))))
    for place in sorted(set(accounting.redriven.values())):
        rows.append(
            (
                f"  {place}",
                count(lambda m, p, x=place: accounting.state(m) == "redriven" and accounting.redriven[m] == x),
            )
        )
    rows.append(("lost", count(state("lost"))))
    unexplained = Counter(accounting.unexplained_by_kind())
    unexplained["total"] = sum(unexplained.values())
    rows.append(("unexplained (sink/DLQ items without a marker)", unexplained))

    width = max(len(label) for label, _ in rows) + 2
    lines = [title, f"{'':<{width}}" + "".join(f"{c:>15}" for c in _COLUMNS)]
    for label, counts in rows:
        lines.append(f"{label:<{width}}" + "".join(f"{counts.get(c, 0):>15}" for c in _COLUMNS))
    return "\n".join(lines)


def report(title: str, accounting: Accounting, run: Run, sink: MixpanelSink) -> str:
    """The table, then a line each on the invocations, the sink's answers by endpoint, where the time went, and why
    records were reported for retry."""
    outcome = run.outcome
    stats = outcome.stats
    # Retried (not parked) failures carry no field; their reasons start with the class ("gave up after 3 attempts").
    retried: Counter[str] = Counter()
    for reason, n in run.tally.reasons.items():
        if not reason.startswith(("record:", "event:", "properties", "request:")):
            retried[reason.split(";")[0]] += n
    answers: dict[str, Counter[str]] = {}
    for request in sink.requests:
        answers.setdefault(request.endpoint, Counter())[request.fault or str(request.status)] += 1
    lines = [
        render_table(accounting, title),
        f"ESM: {stats.invocations} invocations, {stats.records} records delivered, {stats.reported} reported, "
        f"{stats.on_failure_batches} Kinesis batches to on-failure, {stats.released} released over 6 MB, "
        f"{len(stats.handler_errors)} function errors, {stats.timeouts} timeouts; "
        f"drained={outcome.drained} in {outcome.seconds:.1f} s",
        f"sink: {len(sink.requests)} requests; "
        + "; ".join(f"{path} {sum(n.values())}: {dict(sorted(n.items()))}" for path, n in sorted(answers.items())),
        "time: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in outcome.busy_s.items())
        + f", idle {outcome.idle_s:.1f} s",
        "reported for retry, by reason: " + "; ".join(f"{reason} ×{n}" for reason, n in retried.most_common()),
    ]
    return "\n".join(lines)
