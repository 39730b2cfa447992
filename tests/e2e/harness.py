"""The machinery of the "nothing lost" runs (test_nothing_lost.py): the queues and the stream, the producers fed in,
the mappings run with the sink's scripted faults, and what is collected and printed afterwards."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.sink import MixpanelSink
from mixpanel_forwarder import runtime
from tests.e2e.accounting import Accounting, account
from tests.e2e.conftest import Clients
from tests.e2e.esm import EventSourceMapping, Handler, RunOutcome, run_until_drained
from tests.e2e.esm_kinesis import KinesisMapping
from tests.e2e.esm_sqs import SqsMapping
from tests.e2e.markers import markers_in, markers_in_bytes
from tests.e2e.plan import Plan
from tests.e2e.queues import QueueCollector, parked_documents, stream_range
from tests.e2e.sending import QueueFeeder, fifo_entries, send_kinesis, sqs_entries
from tests.e2e.workload import build_plan

# Messages per run: events, user and group updates.
E2E_MESSAGES = int(os.environ.get("E2E_MESSAGES", "3000"))
# The variants (S3 parking, a tight deadline) exercise one mechanism each: a long run does not need 100,000 there.
VARIANT_MESSAGES = min(E2E_MESSAGES, 20_000)
TIME_LIMIT_S = float(os.environ.get("E2E_TIME_LIMIT_S", str(max(100.0, E2E_MESSAGES / 150))))
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
ENDPOINTS = ("/import", "/engage", "/groups")
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
# Lambda's default is to retry until the records expire; a few retries are enough for a batch to get through the
# sink's faults, and few enough that a poison batch without a dead-letter queue soon goes to on-failure.
KINESIS_MAX_RETRY_ATTEMPTS = 3
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
    clients: Clients, world: World, *, messages: int, tag: str, seed: int, poison_rate: float
) -> tuple[Plan, list[QueueFeeder]]:
    """The plan; the stream gets its records now, the queues through feeders while the run goes on."""
    plan = build_plan(
        messages,
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
    """Before an invocation, one scripted fault for one endpoint, the kind and the endpoint each in rotation, so
    that every fault kind is certain to come up at /import, /engage and /groups even in a short run, on top of the
    random ones (a scripted fault goes first): before each of the first 60 invocations (the 30 pairs come round
    twice), then before every third, as often as /import alone had one before there were profile updates."""

    def __init__(self, sink: MixpanelSink) -> None:
        self._invocations = 0
        self._ticks = 0
        hang, drip = FAULT_RATES["hang_seconds"], FAULT_RATES["drip_seconds"]
        self._faults: list[Callable[[str], None]] = [
            # The first event (strict mode) or update (status 0) of the next request is refused.
            lambda endpoint: sink.reject_next(endpoint=endpoint),
            lambda endpoint: sink.fail_next(429, retry_after="0", endpoint=endpoint),
            lambda endpoint: sink.fail_next(502, endpoint=endpoint),
            lambda endpoint: sink.hang_next(hang, endpoint=endpoint),
            lambda endpoint: sink.reset_next(endpoint=endpoint),
            lambda endpoint: sink.fail_next(413, endpoint=endpoint),
            lambda endpoint: sink.drip_next(drip, endpoint=endpoint),
            lambda endpoint: sink.drip_next(drip, headers=True, endpoint=endpoint),
            lambda endpoint: sink.unconfirmed_next(endpoint=endpoint),
            lambda endpoint: sink.unconfirmed_next(miscount=True, endpoint=endpoint),
        ]

    def __call__(self) -> None:
        invocation = self._invocations
        self._invocations += 1
        if invocation >= 60 and invocation % 3:
            return
        tick = self._ticks
        self._ticks += 1
        self._faults[tick % len(self._faults)](ENDPOINTS[tick % len(ENDPOINTS)])


def fault_kinds(sink: MixpanelSink, endpoint: str) -> set[str]:
    """The kinds of fault the sink really served to requests to `endpoint`, random or scripted."""
    kinds = set()
    for request in sink.requests:
        if request.endpoint != endpoint:
            continue
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
    """Why messages were not imported, over every invocation, from the forwarder's own result of each
    (`runtime.last_result()`, there for tests): shows which failure paths a run really took; and how many
    `$add` and `$append` the forwarder resent after an answer that may have applied them
    (ProfileUpdatesResentNotIdempotent)."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()
        self.resent_not_idempotent = 0

    def wrap(self, handler: Handler) -> Handler:
        def tallied(event: dict[str, Any], context: Any) -> Any:
            response = handler(event, context)
            result = runtime.last_result()
            if result is not None:
                self.reasons.update(result.ledger.reasons())
                self.resent_not_idempotent += result.delivery.resent_not_idempotent
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
        "before_invoke": FaultScript(sink),
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
    """The accounting, the parked documents, and how many parked part groups are incomplete and unexplained."""
    collectors = run.collectors
    ranges = [stream_range(clients.kinesis, world.stream, r["KinesisBatchInfo"]) for r in run.kinesis.on_failure]
    handed_on = {*collectors.source_dlq.message_ids, *collectors.fifo_dlq.message_ids}
    handed_on.update(sequence for records in ranges for sequence in records)
    documents, incomplete = parked_documents(collectors.parked.bodies if collectors.parked else [], handed_on)
    redriven: dict[str, set[str]] = {
        "sqs: source DLQ": _markers_of(collectors.source_dlq.bodies),
        "sqs-fifo: source DLQ": _markers_of(collectors.fifo_dlq.bodies),
        "kinesis: on-failure range": {
            m for records in ranges for data in records.values() for m in markers_in_bytes(data)
        },
    }
    accounting = account(plan.events, sink.events, sink.updates, sink.duplicates, documents, redriven)
    return accounting, documents, incomplete


def _markers_of(bodies: list[str]) -> set[str]:
    return set().union(*(markers_in(body) for body in bodies))
