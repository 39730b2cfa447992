"""A Kinesis event source mapping as Lambda runs one, on the scaled clock: per shard, one invocation at a time, in
order. A batch the function answers with failures is retried at once (Lambda waits nothing between retries) from
its lowest reported record; a function error or timeout retries the whole batch. Records older than
MaximumRecordAgeInSeconds are not sent but handed to the on-failure destination, and so is the batch once it has
failed 1 + MaximumRetryAttempts times (-1: never); records older than the stream's retention are gone (moto keeps
them; Kinesis does not). Bisection on function error is not simulated: the function answers every batch itself.

The records and the partial batch response's rules are the simulator's (esm.py, esm_kinesis.py).
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from tests.e2e.esm import Handler, MappingStats, invoke, reported_identifiers
from tests.e2e.esm_kinesis import KinesisMapping
from tests.e2e.outage.clock import ScaledClock
from tests.e2e.outage.fleet import Fleet
from tests.e2e.outage.invocations import InvocationLog
from tests.e2e.outage.on_failure import OnFailure
from tests.e2e.outage.sqs_pool import IDLE_S, MIN_IDLE_REAL_S
from tests.e2e.outage.stack import StreamSource

MAPPING = "kinesis"


class ShardPoller:
    def __init__(
        self,
        kinesis: Any,
        source: StreamSource,
        shard: str,
        handler: Handler,
        *,
        clock: ScaledClock,
        fleet: Fleet,
        log: InvocationLog,
        on_failure: OnFailure,
        function_timeout_s: int,
    ) -> None:
        self.shard = shard
        self.stats = MappingStats()
        self.trimmed = 0  # records past the stream's retention before they were read
        self._kinesis = kinesis
        self._source = source
        self._handler = handler
        self._clock = clock
        self._fleet = fleet
        self._log = log
        self._on_failure = on_failure
        self._timeout_ms = max(1, round(function_timeout_s * 1000 / clock.scale))
        self._helper = KinesisMapping(kinesis, source.stream_name, handler, batch_size=source.batch_size)
        self._after: str | None = None  # the checkpoint: the last record done with
        self._at: str | None = None  # or the record to retry from
        self._failed = 0  # invocations of the batch starting at `_at`
        self._caught_up = False
        self._busy = False

    def run(self, stop: threading.Event) -> None:
        self._fleet.serving(MAPPING)
        idle = max(MIN_IDLE_REAL_S, self._clock.real(IDLE_S))
        while not stop.is_set():
            if not self.poll():
                stop.wait(idle)

    def idle(self) -> bool:
        return self._caught_up and not self._busy

    def poll(self) -> bool:
        records = self._fetch()
        self._caught_up = not records
        if not records:
            return False
        self._busy = True
        try:
            self._invoke(records)
        finally:
            self._busy = False
        return True

    def unread(self) -> list[bytes]:
        """The data of every record past the checkpoint (for a run that ended before the shard caught up)."""
        found: list[bytes] = []
        while True:
            records = self._fetch()
            if not records:
                return found
            found.extend(base64.b64decode(record["kinesis"]["data"]) for record in records)
            self._advance(records[-1])

    def _fetch(self) -> list[dict[str, Any]]:
        request: dict[str, Any] = {"StreamName": self._source.stream_name, "ShardId": self.shard}
        if self._at is not None:
            request.update(ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=self._at)
        elif self._after is not None:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=self._after)
        else:
            request.update(ShardIteratorType="TRIM_HORIZON")
        iterator = self._kinesis.get_shard_iterator(**request)["ShardIterator"]
        fetched = self._kinesis.get_records(ShardIterator=iterator, Limit=self._source.batch_size)["Records"]
        records = [self._helper._record(self.shard, record) for record in fetched]
        now = self._clock.now()
        kept = [r for r in records if r["kinesis"]["approximateArrivalTimestamp"] + self._source.retention_s > now]
        if len(kept) < len(records):
            self.trimmed += len(records) - len(kept)
            if not kept:
                self._advance(records[-1])
                return self._fetch()
        return self._helper._fit(kept)

    def _invoke(self, records: list[dict[str, Any]]) -> None:
        age = self._source.max_record_age_s
        if age is not None:
            now = self._clock.now()
            old = [r for r in records if r["kinesis"]["approximateArrivalTimestamp"] + age <= now]
            if old:
                self._on_failure.hand_on(self.shard, self._source.stream_arn, old, "RecordAgeExceeded", self._failed)
                self._advance(old[-1])
                records = records[len(old) :]
                if not records:
                    return
        stats = MappingStats()
        sequences = [record["kinesis"]["sequenceNumber"] for record in records]
        started = self._clock.now()
        answered, response = invoke(
            self._handler,
            {"Records": records},
            stats,
            name=f"{self._source.function}-{self.shard}",
            timeout_ms=self._timeout_ms,
            before_invoke=None,
        )
        self._log.add(MAPPING, self.shard, started, self._clock.now(), len(records))
        reported = reported_identifiers(response, sequences) if answered else sequences[:1]
        if answered and not reported:
            self._advance(records[-1])
        else:
            stats.reported += len(set(reported)) if answered else 0
            self._retry_from(min(reported, key=int), records)
        self.stats = self.stats.merge(stats)

    def _advance(self, record: dict[str, Any]) -> None:
        self._after, self._at, self._failed = record["kinesis"]["sequenceNumber"], None, 0

    def _retry_from(self, lowest: str, records: list[dict[str, Any]]) -> None:
        if self._at == lowest:
            self._failed += 1
        else:
            self._at, self._failed = lowest, 1
        attempts = self._source.max_retry_attempts
        if attempts is None or self._failed - 1 < attempts:
            return
        failed = [record for record in records if int(record["kinesis"]["sequenceNumber"]) >= int(lowest)]
        self._on_failure.hand_on(self.shard, self._source.stream_arn, failed, "RetryAttemptsExhausted", self._failed)
        self.stats.on_failure_batches += 1
        self._advance(records[-1])
