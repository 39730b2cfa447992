"""One invocation's outcome: the partial batch response, and what happened to every event (for the summary
line, the metrics, and tests)."""

from __future__ import annotations

from typing import Any

from .delivery_stats import DeliveryStats
from .ledger import Ledger
from .model import SourceKind, clip
from .redelivery import RedeliveryStats

_REASONS_IN_SUMMARY = 10
_REASON_CHARACTERS = 200  # the summary line stays far below CloudWatch's 256 KB per log event


class Result:
    __slots__ = ("_counts", "batch_item_failures", "delivery", "kind", "ledger", "records", "redelivery", "source")

    def __init__(
        self,
        source: str,
        kind: SourceKind,
        records: int,
        ledger: Ledger,
        delivery: DeliveryStats,
        batch_item_failures: list[dict[str, str]],
        redelivery: RedeliveryStats | None = None,
    ) -> None:
        self.source = source  # the source's NAME: "sqs" or "kinesis"
        self.kind = kind
        self.records = records
        self.ledger = ledger
        self.delivery = delivery
        self.batch_item_failures = batch_item_failures
        self.redelivery = redelivery or RedeliveryStats()  # SQS's: records hidden for their delay, moved on
        self._counts: dict[str, int] | None = None

    def counts(self) -> dict[str, int]:
        """The ledger's counts, computed once (the summary line and the metrics both need them)."""
        if self._counts is None:
            self._counts = self.ledger.counts()
        return self._counts

    @property
    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": self.batch_item_failures}

    def summary(self) -> dict[str, Any]:
        """Counts and reasons only, never payloads: safe to log."""
        return {
            "source": self.kind.value,
            "records": self.records,
            **self.counts(),
            "records_reported": len(self.batch_item_failures),
            **({"filtered_by": dict(self.ledger.filtered_by)} if self.ledger.filtered_by else {}),
            **self.delivery.summary(),
            **self.redelivery.summary(),
            "reasons": {
                clip(reason, _REASON_CHARACTERS): count
                for reason, count in self.ledger.reasons().most_common(_REASONS_IN_SUMMARY)
            },
        }
