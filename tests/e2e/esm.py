"""An event-source-mapping simulator: polls real SQS queues and Kinesis shards (moto's server) the way
Lambda's pollers do and calls the real handlers, so "nothing lost" is judged by what the platform does
with the answers (deleted, visible again, dead-lettered, checkpointed, handed to on-failure), not by the
handler's own account of itself.

The mappings are in esm_sqs.py and esm_kinesis.py; this module holds what they share and the loop that runs them.

Deliberate simplifications, none of which changes what a record's fate is:
- one poller per mapping and one invocation at a time (the handlers share this process, like one
  container); an empty ReceiveMessage ends the batching window early instead of waiting it out;
- Kinesis: no bisection on function error, no MaximumRecordAgeInSeconds, a fresh shard iterator per poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from localdev.eventgen import lambda_context

Handler = Callable[[dict[str, Any], Any], Any]
BeforeInvoke = Callable[[], None]

MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit


class PartialBatchResponseError(AssertionError):
    """The handler's answer would make Lambda fail the whole batch: the test must fail, not retry quietly."""


class FifoOrderError(AssertionError):
    """A FIFO answer that reports a record but not every record after it: message groups would reorder."""


@dataclass
class MappingStats:
    """What one mapping did: the evidence behind the accounting table, and what the tests assert on."""

    invocations: int = 0
    records: int = 0  # records delivered, redeliveries included
    reported: int = 0  # records named in batchItemFailures
    handler_errors: list[str] = field(default_factory=list)
    timeouts: int = 0  # invocations that ran past the function timeout (Lambda discards their answer)
    released: int = 0  # SQS messages received beyond the payload limit and made visible again
    on_failure_batches: int = 0  # Kinesis batches handed to the on-failure destination

    def merge(self, other: MappingStats) -> MappingStats:
        return MappingStats(
            self.invocations + other.invocations,
            self.records + other.records,
            self.reported + other.reported,
            [*self.handler_errors, *other.handler_errors],
            self.timeouts + other.timeouts,
            self.released + other.released,
            self.on_failure_batches + other.on_failure_batches,
        )


class EventSourceMapping(Protocol):
    name: str
    stats: MappingStats

    def poll(self) -> bool:
        """Runs at most one invocation per partition; True if anything was invoked."""
        ...

    def drained(self) -> bool:
        """Nothing visible, nothing in flight, nothing left to read."""
        ...


def reported_identifiers(response: Any, batch: Sequence[str]) -> list[str]:
    """The identifiers a partial batch response names, checked as strictly as Lambda checks them.

    Lambda fails the whole batch on an empty identifier, a non-string one, a wrong key or an identifier
    not in the batch, and then retries everything: harmless-looking, but it hides a handler bug, so
    here it raises instead.
    """
    if response is None:
        return []
    if not isinstance(response, dict):
        raise PartialBatchResponseError(f"the response is not an object: {response!r}")
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        raise PartialBatchResponseError(f"batchItemFailures is not a list: {failures!r}")
    known = set(batch)
    identifiers: list[str] = []
    for failure in failures:
        if not isinstance(failure, dict) or "itemIdentifier" not in failure:
            raise PartialBatchResponseError(f"a batch item failure without itemIdentifier: {failure!r}")
        identifier = failure["itemIdentifier"]
        if not isinstance(identifier, str) or not identifier:
            raise PartialBatchResponseError(f"an empty or non-string itemIdentifier: {identifier!r}")
        if identifier not in known:
            raise PartialBatchResponseError(f"itemIdentifier {identifier!r} is not a record of this batch")
        identifiers.append(identifier)
    return identifiers


def check_fifo_rule(reported: Sequence[str], batch: Sequence[str]) -> None:
    """The forwarder's FIFO rule: the first failed record and every record after it, nothing else."""
    if not reported:
        return
    first = min(batch.index(identifier) for identifier in reported)
    if set(reported) != set(batch[first:]):
        skipped = [identifier for identifier in batch[first:] if identifier not in set(reported)]
        raise FifoOrderError(f"FIFO answer reports {batch[first]!r} but not the later records {skipped!r}")


def invoke(
    handler: Handler,
    event: dict[str, Any],
    stats: MappingStats,
    *,
    name: str,
    timeout_ms: int,
    before_invoke: BeforeInvoke | None,
) -> tuple[bool, Any]:
    """(True, response), or (False, None) for a function error or a timeout: Lambda retries the batch."""
    if before_invoke is not None:
        before_invoke()
    stats.invocations += 1
    stats.records += len(event["Records"])
    context = lambda_context(remaining_ms=timeout_ms, function_name=name)
    started = time.monotonic()
    try:
        response = handler(event, context)
    except Exception as exc:  # a function error: Lambda retries the whole batch
        stats.handler_errors.append(f"{type(exc).__name__}: {exc}")
        return False, None
    if (time.monotonic() - started) * 1000 > timeout_ms:
        stats.timeouts += 1  # Lambda would have killed it: whatever it answered is lost
        return False, None
    return True, response


class Chore(Protocol):
    """Work beside the mappings on every tick: a producer feeding a queue, a consumer emptying a DLQ."""

    def step(self) -> bool:
        """Does a bounded amount of work; True if it did any."""
        ...

    def done(self) -> bool:
        """Nothing left for it to do (the run is not drained before every chore is done)."""
        ...


@dataclass(frozen=True)
class RunOutcome:
    drained: bool
    seconds: float
    ticks: int
    stats: MappingStats
    busy_s: dict[str, float]  # per mapping and chore: time spent polling (moto calls and invocations)
    idle_s: float  # time asleep, waiting for visibility timeouts


def run_until_drained(
    mappings: Sequence[EventSourceMapping],
    *,
    time_limit_s: float,
    chores: Sequence[Chore] = (),
    idle_sleep_s: float = 0.1,
) -> RunOutcome:
    """Polls every mapping in turn, with the chores between ticks, until all are drained or the time limit
    passes; never loops forever.

    When nothing had anything to do, the sources are either drained or waiting (messages in flight until
    their visibility timeout): sleep briefly rather than spin against moto.
    """
    started = time.monotonic()
    ticks = 0
    drained = False
    busy: dict[str, float] = {}
    idle = 0.0

    def timed(name: str, step: Callable[[], bool]) -> bool:
        began = time.monotonic()
        did = step()
        busy[name] = busy.get(name, 0.0) + time.monotonic() - began
        return did

    while time.monotonic() - started < time_limit_s:
        ticks += 1
        progressed = False
        for chore in chores:
            progressed |= timed(type(chore).__name__, chore.step)
        for mapping in mappings:
            progressed |= timed(f"{type(mapping).__name__}:{mapping.name}", mapping.poll)
        if progressed:
            continue
        if all(chore.done() for chore in chores) and all(mapping.drained() for mapping in mappings):
            drained = True
            break
        time.sleep(idle_sleep_s)
        idle += idle_sleep_s
    total = MappingStats()
    for mapping in mappings:
        total = total.merge(mapping.stats)
    return RunOutcome(drained, time.monotonic() - started, ticks, total, busy, idle)
