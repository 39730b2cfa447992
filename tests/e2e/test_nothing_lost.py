"""Nothing lost, end to end: N events in every payload shape through real SQS (standard and FIFO) and
Kinesis APIs, the real handlers driven as Lambda drives them, a Mixpanel sink that fails at random, and
then every event accounted for by its marker.

`make test` runs a short form; `make e2e` (E2E_EVENTS=100000) the long one, printing the tables.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.sink import MixpanelSink
from mixpanel_forwarder import runtime
from tests.e2e.accounting import (
    SINK_413,
    SINK_REFUSED,
    Accounting,
    QueueCollector,
    account,
    markers_in,
    parked_documents,
    render_table,
    stream_range_markers,
)
from tests.e2e.conftest import FORWARDER_ENV, Clients
from tests.e2e.esm import EventSourceMapping, Handler, RunOutcome, run_until_drained
from tests.e2e.esm_kinesis import KinesisMapping
from tests.e2e.esm_sqs import SqsMapping
from tests.e2e.producers import (
    Kind,
    Plan,
    QueueFeeder,
    build_plan,
    fifo_entries,
    send_kinesis,
    sqs_entries,
)
from tests.hostile import slow_proxy

pytestmark = pytest.mark.e2e

E2E_EVENTS = int(os.environ.get("E2E_EVENTS", "3000"))
# The variants (S3 parking, a tight deadline) exercise one mechanism each: a long run does not need 100,000 there.
VARIANT_EVENTS = min(E2E_EVENTS, 20_000)
TIME_LIMIT_S = float(os.environ.get("E2E_TIME_LIMIT_S", str(max(100.0, E2E_EVENTS / 150))))
# Every fault kind the sink has, at rates that make retries, splits and refusals routine.
FAULT_RATES = {
    "rate_429": 0.06,
    "rate_5xx": 0.06,
    "rate_hang": 0.01,  # each costs its invocation REQUEST_TIMEOUT_SECONDS: rarer than the rest
    "hang_seconds": 0.5,  # longer than REQUEST_TIMEOUT_SECONDS: the forwarder must cut it
    "rate_reset": 0.04,
    "rate_413": 0.04,
    "rate_drip": 0.03,  # an answer sent a byte at a time: the forwarder must cut the request as a whole
    "drip_seconds": 0.05,
    "rate_unconfirmed": 0.04,  # a 200 that is not Mixpanel's answer (a portal's HTML, a short count)
}
SCRIPTED_FAULT_EVERY = 3  # invocations between two scripted faults
ALL_FAULT_KINDS = {"429", "5xx", "hang", "reset", "413", "reject", "drip", "drip-headers", "portal", "miscount"}
# The forwarder's dead-letter queue drops one call in 25, its connection closed at once or after a silence:
# parking fails and the record is reported, to be parked on its next delivery. Spaced, not random, so that no
# record meets it on every one of its deliveries (the platform would then hand it on: redriven, not lost).
FLAKY_DEAD_LETTER_QUEUE = {"every": 25, "hang_seconds": 0.5}
# SQS at Lambda's default (10); Kinesis below its default of 100 records, or a short run is a handful of calls.
SQS_BATCH_SIZE = 10
KINESIS_BATCH_SIZE = 20
VISIBILITY_TIMEOUT_S = 1
MAX_RECEIVE_COUNT = 4
KINESIS_MAX_RETRY_ATTEMPTS = 2
SHARDS = 4
FUNCTION_TIMEOUT_MS = 30_000
QUEUE_DEPTH = 50  # messages outstanding per source queue (see QueueFeeder)
POISON_RATE = 0.05
# Without a dead-letter queue a poison record is delivered maxReceiveCount times, a second or more apart:
# fewer of them keep the run short, and 2% of events is still dozens of poison records in a short run.
POISON_RATE_WITHOUT_DLQ = 0.02


@dataclass(frozen=True)
class World:
    """The queues and the stream of one run."""

    queue_url: str
    fifo_url: str
    source_dlq_url: str
    fifo_dlq_url: str
    parked_url: str | None
    bucket: str | None
    stream: str
    max_message_bytes: int


def _queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def create_world(clients: Clients, *, parked: bool, bucket: bool) -> World:
    """Source queues with a RedrivePolicy (moto moves a message after maxReceiveCount receives, as SQS
    does), a stream, and, when asked, the forwarder's own dead-letter queue and bucket."""
    sqs = clients.sqs
    source_dlq_url, source_dlq_arn = _queue(sqs, "e2e-events-dlq")
    fifo_dlq_url, fifo_dlq_arn = _queue(sqs, "e2e-events-dlq.fifo", FifoQueue="true")

    def redrive(arn: str) -> str:
        return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)})

    timeout = str(VISIBILITY_TIMEOUT_S)
    queue_url, _ = _queue(sqs, "e2e-events", VisibilityTimeout=timeout, RedrivePolicy=redrive(source_dlq_arn))
    fifo_url, _ = _queue(
        sqs, "e2e-events.fifo", FifoQueue="true", VisibilityTimeout=timeout, RedrivePolicy=redrive(fifo_dlq_arn)
    )
    parked_url = _queue(sqs, "e2e-parked")[0] if parked else None
    bucket_name = None
    if bucket:
        bucket_name = "e2e-parked-documents"
        clients.s3.create_bucket(Bucket=bucket_name)
    clients.kinesis.create_stream(StreamName="e2e-events", ShardCount=SHARDS)
    limit = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["MaximumMessageSize"])["Attributes"]
    return World(
        queue_url,
        fifo_url,
        source_dlq_url,
        fifo_dlq_url,
        parked_url,
        bucket_name,
        "e2e-events",
        int(limit["MaximumMessageSize"]),
    )


def produce(
    clients: Clients, world: World, *, events: int, tag: str, seed: int, poison_rate: float
) -> tuple[Plan, list[QueueFeeder]]:
    """The plan; the stream gets its records now, the queues through feeders while the run goes on."""
    plan = build_plan(
        events,
        tag=tag,
        seed=seed,
        now_s=int(time.time()),
        sqs_max_message_bytes=world.max_message_bytes,
        poison_rate=poison_rate,
    )
    send_kinesis(clients.kinesis, world.stream, plan.kinesis_records)
    feeders = [
        QueueFeeder(clients.sqs, world.queue_url, sqs_entries(plan.sqs_bodies), depth=QUEUE_DEPTH),
        # Deeper: a poison message holds its whole group until it is dead-lettered.
        QueueFeeder(clients.sqs, world.fifo_url, fifo_entries(plan.fifo_messages), depth=2 * QUEUE_DEPTH),
    ]
    return plan, feeders


class FaultScript:
    """Before every few invocations, one scripted fault, in rotation: every fault kind is certain to come
    up even in a short run, on top of the random ones (a scripted fault goes first)."""

    def __init__(self, sink: MixpanelSink, every: int) -> None:
        self._sink = sink
        self._every = every
        self._invocations = 0
        self._faults: list[Callable[[], None]] = [
            sink.reject_next,  # strict mode refuses the first event of the next request
            lambda: sink.fail_next(429, retry_after="0"),
            lambda: sink.fail_next(502),
            lambda: sink.hang_next(FAULT_RATES["hang_seconds"]),
            sink.reset_next,
            lambda: sink.fail_next(413),
            lambda: sink.drip_next(FAULT_RATES["drip_seconds"]),
            lambda: sink.drip_next(FAULT_RATES["drip_seconds"], headers=True),
            sink.unconfirmed_next,
            lambda: sink.unconfirmed_next(miscount=True),
        ]

    def __call__(self) -> None:
        self._invocations += 1
        if self._invocations % self._every == 0:
            self._faults[(self._invocations // self._every) % len(self._faults)]()


def fault_kinds(sink: MixpanelSink) -> set[str]:
    """The kinds of fault the sink really served, random or scripted."""
    kinds = set()
    for request in sink.requests:
        fault = (request.fault or "").removeprefix("random:").removeprefix("fail:")
        if fault:
            kinds.add("5xx" if fault[0] == "5" else fault)
    return kinds


@dataclass
class Collectors:
    """The dead-letter queues, emptied as the run goes (see QueueCollector)."""

    parked: QueueCollector | None
    source_dlq: QueueCollector
    fifo_dlq: QueueCollector

    def all(self) -> list[QueueCollector]:
        return [c for c in (self.parked, self.source_dlq, self.fifo_dlq) if c is not None]


class ReasonTally:
    """Why events were not imported, over every invocation, from the forwarder's own result of each
    (`runtime.last_result()`, there for tests): shows which failure paths a run really took."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    def wrap(self, handler: Handler) -> Handler:
        def tallied(event: dict[str, Any], context: Any) -> Any:
            response = handler(event, context)
            result = runtime.last_result()
            if result is not None:
                self.reasons.update(result.ledger.reasons())
            return response

        return tallied

    def deadline_hits(self) -> int:
        return sum(n for reason, n in self.reasons.items() if "time ran out" in reason or "no time left" in reason)


@dataclass(frozen=True)
class Run:
    outcome: RunOutcome
    kinesis: KinesisMapping
    collectors: Collectors
    tally: ReasonTally


def run_mappings(
    clients: Clients,
    world: World,
    sink: MixpanelSink,
    feeders: list[QueueFeeder],
    *,
    function_timeout_ms: int = FUNCTION_TIMEOUT_MS,
) -> Run:
    tally = ReasonTally()
    common: dict[str, Any] = {
        "before_invoke": FaultScript(sink, SCRIPTED_FAULT_EVERY),
        "function_timeout_ms": function_timeout_ms,
    }
    kinesis = KinesisMapping(
        clients.kinesis,
        world.stream,
        tally.wrap(kinesis_handler),
        batch_size=KINESIS_BATCH_SIZE,
        max_retry_attempts=KINESIS_MAX_RETRY_ATTEMPTS,
        **common,
    )
    sqs = tally.wrap(sqs_handler)
    mappings: list[EventSourceMapping] = [
        SqsMapping(clients.sqs, world.queue_url, sqs, batch_size=SQS_BATCH_SIZE, **common),
        SqsMapping(clients.sqs, world.fifo_url, sqs, batch_size=10, **common),
        kinesis,
    ]
    collectors = Collectors(
        QueueCollector(clients.sqs, world.parked_url) if world.parked_url is not None else None,
        QueueCollector(clients.sqs, world.source_dlq_url),
        QueueCollector(clients.sqs, world.fifo_dlq_url),
    )
    outcome = run_until_drained(mappings, time_limit_s=TIME_LIMIT_S, chores=[*feeders, *collectors.all()])
    for collector in collectors.all():
        collector.step()  # whatever arrived after the last tick
    return Run(outcome, kinesis, collectors, tally)


def collect(
    clients: Clients, world: World, sink: MixpanelSink, plan: Plan, run: Run
) -> tuple[Accounting, list[dict[str, Any]], int]:
    parked = run.collectors.parked
    documents, incomplete = parked_documents(parked.bodies if parked is not None else [])
    on_failure = run.kinesis.on_failure
    redriven: dict[str, set[str]] = {
        "sqs: source DLQ": _markers_of(run.collectors.source_dlq.bodies),
        "sqs-fifo: source DLQ": _markers_of(run.collectors.fifo_dlq.bodies),
        "kinesis: on-failure range": set().union(
            *(stream_range_markers(clients.kinesis, world.stream, r["KinesisBatchInfo"]) for r in on_failure)
        ),
    }
    accounting = account(plan.events, sink.events, sink.duplicates, documents, redriven)
    return accounting, documents, incomplete


def _markers_of(bodies: list[str]) -> set[str]:
    return set().union(*(markers_in(body) for body in bodies))


def report(title: str, accounting: Accounting, run: Run, sink: MixpanelSink) -> str:
    outcome = run.outcome
    stats = outcome.stats
    # Retried (not parked) failures carry no field; their reasons start with the class ("gave up after 3 attempts").
    retried: Counter[str] = Counter()
    for reason, n in run.tally.reasons.items():
        if not reason.startswith(("record:", "event:", "properties", "request:")):
            retried[reason.split(";")[0]] += n
    faults = Counter(r.fault or str(r.status) for r in sink.requests)
    lines = [
        render_table(accounting, title),
        f"ESM: {stats.invocations} invocations, {stats.records} records delivered, {stats.reported} reported, "
        f"{stats.on_failure_batches} Kinesis batches to on-failure, {stats.released} released over 6 MB, "
        f"{len(stats.handler_errors)} function errors, {stats.timeouts} timeouts; "
        f"drained={outcome.drained} in {outcome.seconds:.1f} s",
        f"sink: {len(sink.requests)} requests: {dict(sorted(faults.items()))}",
        "time: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in outcome.busy_s.items())
        + f", idle {outcome.idle_s:.1f} s",
        "reported for retry, by reason: " + "; ".join(f"{reason} ×{n}" for reason, n in retried.most_common()),
    ]
    return "\n".join(lines)


def markers(plan: Plan, *, valid: bool) -> list[str]:
    return [m for m, p in plan.events.items() if (p.kind is Kind.VALID) == valid]


def assert_common(accounting: Accounting, outcome: RunOutcome, plan: Plan) -> None:
    assert outcome.drained, f"the sources were not drained within {TIME_LIMIT_S} s"
    assert outcome.stats.handler_errors == []  # only bad configuration may fail a whole invocation
    assert outcome.stats.timeouts == 0  # the forwarder answers before its deadline
    assert accounting.unexplained == []
    assert accounting.lost() == []
    imported_twice = [marker for marker, count in accounting.imported.items() if count > 1]
    assert imported_twice == []  # each event is in Mixpanel once: dedup caught every redelivery
    assert not [m for m in markers(plan, valid=False) if accounting.imported[m]], "poison was imported"


@pytest.mark.parametrize(
    ("tag", "bucket", "function_timeout_ms", "events"),
    [
        pytest.param("dq", False, FUNCTION_TIMEOUT_MS, E2E_EVENTS, id="dlq-parts"),
        pytest.param("ds", True, FUNCTION_TIMEOUT_MS, VARIANT_EVENTS, id="dlq-s3"),
        # 1.2 s less DEADLINE_MARGIN_MS leaves 0.2 s to send in: every hung request (cut at 0.3 s) runs into the
        # deadline, and what is not sent in time must be reported, not lost, and answered before the timeout.
        pytest.param("dt", False, 1_200, VARIANT_EVENTS, id="dlq-tight-deadline"),
    ],
)
def test_with_a_dead_letter_queue_valid_events_are_imported_and_poison_parked(
    tag: str,
    bucket: bool,
    function_timeout_ms: int,
    events: int,
    clients: Clients,
    sink: MixpanelSink,
    quiet_logs: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN a forwarder with a dead-letter queue, a sink failing at random and poison in every shape
    WHEN the mappings run until the sources are drained
    THEN every valid event is imported once, every poison event is parked under its own field, nothing is
    redriven by the platform, and the only valid events parked are those the sink itself refused."""
    world = create_world(clients, parked=True, bucket=bucket)
    env = {**sink.env(), **FORWARDER_ENV, "DEAD_LETTER_QUEUE_URL": world.parked_url or ""}
    if world.bucket is not None:
        env["DEAD_LETTER_BUCKET"] = world.bucket
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    plan, feeders = produce(clients, world, events=events, tag=tag, seed=1000 + ord(tag[1]), poison_rate=POISON_RATE)
    sink.set_fault_rates(seed=42, **FAULT_RATES)

    # Only the forwarder's own calls to SQS (parking) go through the proxy; the simulator's go to moto. It drops
    # calls except in the tight-deadline variant, whose 0.2 s leave no time to park again after a dropped call.
    tight = function_timeout_ms < FUNCTION_TIMEOUT_MS
    flaky: dict[str, Any] = {} if tight else FLAKY_DEAD_LETTER_QUEUE
    first = () if tight else ("close", "hang")
    with slow_proxy(os.environ["AWS_ENDPOINT_URL"], seed=7, first=first, **flaky) as (proxy_url, dead_letter_proxy):
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy_url)
        run = run_mappings(clients, world, sink, feeders, function_timeout_ms=function_timeout_ms)
    accounting, documents, incomplete = collect(clients, world, sink, plan, run)
    title = f"{events} events, dead-letter queue ({'S3' if bucket else 'parts'}), timeout {function_timeout_ms} ms"
    print("\n" + report(title, accounting, run, sink))
    print(f"dead-letter queue: {dict(dead_letter_proxy.calls)} calls, dropped {dict(dead_letter_proxy.faults)}")

    assert_common(accounting, run.outcome, plan)
    assert fault_kinds(sink) == ALL_FAULT_KINDS
    if not tight:
        assert dead_letter_proxy.faults["close"] >= 1
        assert dead_letter_proxy.faults["hang"] >= 1
    assert incomplete == 0  # every oversized document's parts arrived, or it was parked whole again later
    # With the function's whole timeout, the platform never has to give up on a record. With 0.2 s to send and
    # park, parking is cut at the deadline margin and the rest reported, so a record can meet the deadline on
    # every delivery and be handed on by the platform: redriven (counted where it went), still not lost.
    settled = {"parked", "redriven"} if tight else {"parked"}
    if not tight:
        assert accounting.redriven == {}
    assert [m for m in markers(plan, valid=False) if accounting.state(m) not in settled] == []
    assert accounting.misfiled_poison() == []
    explained = {SINK_REFUSED, SINK_413}
    assert [
        m
        for m in markers(plan, valid=True)
        if accounting.state(m) != "imported"
        and accounting.parked_class(m) not in explained
        and not (tight and accounting.state(m) == "redriven")
    ] == []
    # Each valid event parked is matched by one fault the sink logged, no more, no less.
    requests = sink.requests
    assert sum(1 for d in documents if d.get("field") == "properties.forced") == sum(
        1 for r in requests if r.fault == "reject"
    )
    assert sum(1 for d in documents if "too large for one request" in d.get("reason", "")) == sum(
        1 for r in requests if r.fault in ("random:413", "fail:413") and r.events == 1
    )
    # The oversized events really went the way this variant parks them: behind an S3 pointer, or in parts.
    assert plan.kinds()[Kind.OVER_1MIB] >= 1
    envelopes = [json.loads(body) for body in run.collectors.parked.bodies] if run.collectors.parked else []
    assert any(("s3" if bucket else "part") in envelope for envelope in envelopes)
    if function_timeout_ms < FUNCTION_TIMEOUT_MS:
        assert run.tally.deadline_hits() > 0  # the deadline path really ran


def test_without_a_dead_letter_queue_poison_is_redriven_by_the_platform(
    clients: Clients, sink: MixpanelSink, quiet_logs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a forwarder without a dead-letter queue
    WHEN the mappings run until drained
    THEN every valid event is imported once, and every poison event reaches the source queue's DLQ (after
    maxReceiveCount) or the stream's on-failure destination (after MaximumRetryAttempts): never lost,
    never retried forever."""
    world = create_world(clients, parked=False, bucket=False)
    for name, value in {**sink.env(), **FORWARDER_ENV}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    plan, feeders = produce(clients, world, events=E2E_EVENTS, tag="nd", seed=2000, poison_rate=POISON_RATE_WITHOUT_DLQ)
    sink.set_fault_rates(seed=43, **FAULT_RATES)

    run = run_mappings(clients, world, sink, feeders)
    accounting, documents, _ = collect(clients, world, sink, plan, run)
    print("\n" + report(f"{E2E_EVENTS} events, no dead-letter queue", accounting, run, sink))

    assert_common(accounting, run.outcome, plan)
    assert fault_kinds(sink) == ALL_FAULT_KINDS
    assert documents == []
    assert [m for m in markers(plan, valid=True) if accounting.state(m) != "imported"] == []
    assert [m for m in markers(plan, valid=False) if accounting.state(m) != "redriven"] == []
