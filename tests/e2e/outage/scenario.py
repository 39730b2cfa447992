"""One scenario, end to end: the scaled moto and the sink on the same clock, the stack at the template's defaults,
the sink's outages or rate limit scheduled, producers sending steadily from start to end, every mapping running as
Lambda runs it (sqs_pool.py, shards.py) with the real handlers in containers of their own (fleet.py), until every
source is drained or the drain allowance runs out; then what is needed to account for every message (measure.py).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.sink import MixpanelSink
from localdev.sink.outages import OutageMode
from mixpanel_forwarder.log import logger
from mixpanel_forwarder.result import Result
from tests.e2e.conftest import Clients
from tests.e2e.outage.clock import ScaledClock
from tests.e2e.outage.fleet import Fleet
from tests.e2e.outage.invocations import InvocationLog
from tests.e2e.outage.landings import Landings
from tests.e2e.outage.moto_scaled import MotoScaled, scaled_moto
from tests.e2e.outage.on_failure import OnFailure
from tests.e2e.outage.shards import ShardPoller
from tests.e2e.outage.sqs_pool import SqsPool
from tests.e2e.outage.stack import Deployment, deploy_defaults
from tests.e2e.outage.traffic import SteadySender, steady_plan
from tests.e2e.plan import Plan
from tests.e2e.queues import QueueCollector
from tests.moto import AWS_TEST_ENV

TICK_S = 0.1  # real seconds between rounds of the producers, and of the housekeeping (collectors, landings, the end)
LEAD_S = 60.0  # scaled seconds from set-up to the first record sent


@dataclass(frozen=True)
class Down:
    """Mixpanel unavailable from `start` to `end` (scaled seconds after the first record is sent); with `down_s` and
    `up_s`, down and up in turn. A hanging request is answered 503 after `hang_s`, as a load balancer with no healthy
    target answers at its idle timeout ("By default, ELB sets the idle timeout value for your load balancer to 60
    seconds", docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html): held
    until the outage ends, hundreds of them would keep as many of the sink's threads polling its clock."""

    start: float
    end: float
    mode: OutageMode = "mixed"
    down_s: float | None = None
    up_s: float | None = None
    hang_s: float = 60.0


@dataclass(frozen=True)
class Scenario:
    name: str
    tag: str  # the markers' two letters
    scale: float
    messages: int  # produced over `produce_s`
    produce_s: float
    down: tuple[Down, ...] = ()
    rate_limit: tuple[float, int] | None = None  # (window_s, events) on /import
    drain_s: float = 6 * 3600.0  # after production ends, how long the sources may take to drain
    shards: int = 2
    poison_rate: float = 0.01
    seed: int = 7
    settings: tuple[tuple[str, str], ...] = ()  # the function's variables set beyond the template's (none at defaults)
    goodput_floor: float = 85.0  # % of the rate limit a backfill must import at (the bar)


class Tally:
    """What the forwarder said of each invocation (its Result), by mapping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reasons: dict[str, Counter[str]] = {}
        self.resent_not_idempotent = 0

    def add(self, mapping: str, result: Result) -> None:
        with self._lock:
            self.reasons.setdefault(mapping, Counter()).update(result.ledger.reasons())
            self.resent_not_idempotent += result.delivery.resent_not_idempotent


@dataclass
class Run:
    """Everything measure.py reads once a scenario has run."""

    scenario: Scenario
    clock: ScaledClock
    moto: MotoScaled
    sink: MixpanelSink
    clients: Clients
    deployment: Deployment
    plan: Plan
    start: float
    sender: SteadySender
    pools: list[SqsPool]
    shards: list[ShardPoller]
    on_failure: OnFailure
    log: InvocationLog
    tally: Tally
    landings: Landings
    fleet: Fleet
    dead_letters: dict[str, QueueCollector]
    drained: bool = False
    backlog_ended: float | None = None  # after production, when first nothing was visible or being invoked
    ended: float = 0.0
    real_s: float = 0.0
    threads: list[threading.Thread] = field(default_factory=list)


@contextmanager
def running(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    clock = ScaledClock(scenario.scale)
    # A summary line per invocation, and a warning per record not parked in time, are noise over thousands.
    previous = logger.level
    logger.setLevel(logging.ERROR)
    with scaled_moto(clock) as moto, MixpanelSink(clock=clock.now) as sink:
        aws = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto.url, "POWERTOOLS_METRICS_DISABLED": "true"}
        for name, value in aws.items():
            monkeypatch.setenv(name, value)
        for name in [name for name in os.environ if name.startswith(("MIXPANEL_", "DEAD_LETTER_"))]:
            monkeypatch.delenv(name)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        clients = Clients(boto3.client("sqs"), boto3.client("kinesis"), boto3.client("s3"))
        try:
            yield _started(scenario, clock, moto, sink, clients, monkeypatch)
        finally:
            for client in (clients.sqs, clients.kinesis, clients.s3):
                client.close()
            logger.setLevel(previous)


def _started(
    scenario: Scenario,
    clock: ScaledClock,
    moto: MotoScaled,
    sink: MixpanelSink,
    clients: Clients,
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    deployment = deploy_defaults(moto.url, clients.sqs, clients.kinesis, sink, shards=scenario.shards)
    local = {"MIXPANEL_API_URL": sink.url, **dict(scenario.settings)}
    environments = {name: {**env, **local} for name, env in deployment.environments.items()}
    tally = Tally()
    fleet = Fleet(clock, environments, tally.add)
    fleet.install(monkeypatch)
    urls = {queue.name: queue.queue_url for queue in deployment.queues}
    size = clients.sqs.get_queue_attributes(QueueUrl=urls["sqs"], AttributeNames=["MaximumMessageSize"])
    plan = steady_plan(
        scenario.messages,
        tag=scenario.tag,
        seed=scenario.seed,
        clock=clock,
        max_message_bytes=int(size["Attributes"]["MaximumMessageSize"]),
        poison_rate=scenario.poison_rate,
    )
    start = clock.now() + LEAD_S
    for number, down in enumerate(scenario.down):
        if down.down_s is not None and down.up_s is not None:
            sink.schedule_flapping(
                start + down.start,
                start + down.end,
                down_s=down.down_s,
                up_s=down.up_s,
                mode=down.mode,
                hang_s=down.hang_s,
                seed=number,
            )
        else:
            sink.schedule_outage(start + down.start, start + down.end, down.mode, hang_s=down.hang_s, seed=number)
    if scenario.rate_limit is not None:
        window, events = scenario.rate_limit
        sink.set_rate_limit(window, events=events)
    stream = deployment.stream
    sender = SteadySender(clients, urls, stream.stream_name, plan, clock, start=start, end=start + scenario.produce_s)
    log = InvocationLog()
    timeout = deployment.function_timeout_s
    common: dict[str, Any] = {"clock": clock, "fleet": fleet, "log": log, "function_timeout_s": timeout}
    handlers = {"SqsForwarderFunction": sqs_handler, "KinesisForwarderFunction": kinesis_handler}
    pools = [SqsPool(clients.sqs, queue, handlers[queue.function], **common) for queue in deployment.queues]
    on_failure = OnFailure(clients.sqs, clients.s3, stream.on_failure, stream.function, clock)
    shard_ids = [shard["ShardId"] for shard in clients.kinesis.list_shards(StreamName=stream.stream_name)["Shards"]]
    shards = [
        ShardPoller(clients.kinesis, stream, shard, handlers[stream.function], on_failure=on_failure, **common)
        for shard in shard_ids
    ]
    landings = Landings(clients.sqs, deployment.stack.known["ParkedEventsQueue"], clock)
    landings.install(monkeypatch)
    dead_letters = {
        queue.name: QueueCollector(clients.sqs, queue.dead_letter_url)
        for queue in deployment.queues
        if queue.dead_letter_url is not None
    }
    return Run(
        scenario,
        clock,
        moto,
        sink,
        clients,
        deployment,
        plan,
        start,
        sender,
        pools,
        shards,
        on_failure,
        log,
        tally,
        landings,
        fleet,
        dead_letters,
    )


def _produce(run: Run, stop: threading.Event) -> None:
    """The producers, in a thread of their own: a send waiting on moto must not delay seeing what landed."""
    while not run.sender.done() and not stop.wait(TICK_S):
        run.sender.step()


def drive(run: Run) -> None:
    """Runs the mappings and the producers until every source is drained after production ends, or the drain
    allowance runs out; stops every thread before returning.

    The whole platform shares one process here, where in Lambda each container has its own: the cyclic collector
    would pause every thread (an invocation at its deadline among them) to scan a heap of everything the run holds.
    So objects are moved out of its way (gc.freeze) as the run goes: cyclic garbage made before a freeze is kept,
    the rest is freed as usual."""
    stop = threading.Event()
    began = time.monotonic()
    workers = [*run.pools, *run.shards]
    run.threads = [threading.Thread(target=worker.run, args=(stop,), daemon=True) for worker in workers]
    for thread in run.threads:
        thread.start()
    produced = run.start + run.scenario.produce_s
    give_up = produced + run.scenario.drain_s
    quiet_since: float | None = None
    producing = threading.Thread(target=_produce, args=(run, stop), daemon=True)
    producing.start()
    try:
        while not stop.wait(TICK_S):
            gc.freeze()
            for collector in run.dead_letters.values():
                collector.step()
            run.landings.step()
            now = run.clock.now()
            if now >= give_up:
                break
            if run.backlog_ended is None and run.sender.done() and now >= produced and _only_hidden(run):
                run.backlog_ended = now
            idle = run.sender.done() and now >= produced and all(worker.idle() for worker in workers)
            if not idle:
                quiet_since = None
                continue
            quiet_since = now if quiet_since is None else quiet_since
            if now - quiet_since >= 3 * run.clock.scale * TICK_S:  # idle across several polls of every mapping
                run.drained = True
                break
    finally:
        stop.set()
        for thread in [*run.threads, producing]:
            thread.join()
        for pool in run.pools:
            pool.close()
        for collector in run.dead_letters.values():
            collector.step()
        run.landings.step()
        run.ended = run.clock.now()
        gc.unfreeze()
        run.real_s = time.monotonic() - began


def _only_hidden(run: Run) -> bool:
    """Nothing left to send now: every shard caught up, and every queue holds only messages hidden for a while (the
    records reported and backed off), if any."""
    return all(shard.idle() for shard in run.shards) and all(pool.only_hidden() for pool in run.pools)
