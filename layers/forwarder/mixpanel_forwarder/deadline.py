"""The function's own deadline, from the Lambda context, less a margin to report in."""

from __future__ import annotations

import time
from typing import Protocol

NO_CONTEXT_BUDGET_MS = 15 * 60 * 1000  # Lambda's longest timeout: a script calling the library has no deadline
# Of the margin, what the last AWS calls may use after sending stopped (a second at the default 3 s: a hundred
# ChangeMessageVisibilityBatch calls, eight at a time, take a fraction of it).
CLOSING_SHARE = 1 / 3


class LambdaContext(Protocol):
    """What the forwarder reads of Lambda's context object."""

    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    def __init__(self, context: LambdaContext | None, margin_ms: int) -> None:
        budget_ms = context.get_remaining_time_in_millis() if context is not None else NO_CONTEXT_BUDGET_MS
        self._ends = time.monotonic() + (budget_ms - margin_ms) / 1000
        self._margin = margin_ms / 1000

    def remaining(self) -> float:
        """Seconds left before the function must stop sending and report."""
        return self._ends - time.monotonic()

    def closing(self) -> Deadline:
        """The deadline of the invocation's last AWS calls, once sending has stopped (parking a record its queue would
        delete, hiding the reported ones for their delay): a third of the margin later, the rest left to answer in."""
        closing = Deadline.__new__(Deadline)
        closing._ends = self._ends + self._margin * CLOSING_SHARE
        closing._margin = self._margin * (1 - CLOSING_SHARE)
        return closing
