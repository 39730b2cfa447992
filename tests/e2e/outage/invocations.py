"""Every invocation's span on the scaled clock, by mapping and partition (an SQS mapping's container, a shard), for
what an outage costs: invocation-seconds (unscaled, as Lambda bills them) spent while Mixpanel was down."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

Window = tuple[float, float]  # [start, end) on the scaled clock


@dataclass(frozen=True, slots=True)
class Invocation:
    mapping: str  # "sqs", "sqs-fifo", "kinesis", ...
    partition: str  # the container's thread for SQS, the shard for Kinesis
    start: float
    end: float
    records: int


class InvocationLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._invocations: list[Invocation] = []

    def add(self, mapping: str, partition: str, start: float, end: float, records: int) -> None:
        with self._lock:
            self._invocations.append(Invocation(mapping, partition, start, end, records))

    def all(self) -> list[Invocation]:
        with self._lock:
            return list(self._invocations)

    def seconds_within(self, windows: Iterable[Window]) -> dict[str, float]:
        """Invocation-seconds by mapping that fell within `windows` (unscaled seconds: the scaled clock's)."""
        spans = sorted(windows)
        spent: dict[str, float] = defaultdict(float)
        for invocation in self.all():
            for start, end in spans:
                overlap = min(end, invocation.end) - max(start, invocation.start)
                if overlap > 0:
                    spent[invocation.mapping] += overlap
        return dict(spent)

    def count_within(self, windows: Iterable[Window]) -> dict[str, int]:
        """Invocations by mapping that started within `windows`."""
        spans = list(windows)
        counted: dict[str, int] = defaultdict(int)
        for invocation in self.all():
            if any(start <= invocation.start < end for start, end in spans):
                counted[invocation.mapping] += 1
        return dict(counted)
