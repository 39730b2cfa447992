"""The function's own deadline, from the Lambda context, less a margin to report in."""

from __future__ import annotations

import time
from typing import Any, Protocol


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    def __init__(self, context: Any, margin_ms: int) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        # Without a context (a script calling the library) there is no deadline but the margin's.
        budget_ms = remaining() if callable(remaining) else 15 * 60 * 1000
        self._ends = time.monotonic() + (budget_ms - margin_ms) / 1000

    def remaining(self) -> float:
        """Seconds left before the function must stop sending and report."""
        return self._ends - time.monotonic()
