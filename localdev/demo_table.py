"""The demo's table: one row per invocation, counted in three units (the records Lambda delivered, the events they
held, the profile updates), each unit by outcome, every column labelled with its unit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Summary = dict[str, Any]  # an invocation's summary line (mixpanel_forwarder.result.Result.summary)
NAME_WIDTH = 30


def _count(key: str) -> Callable[[Summary], int]:
    return lambda summary: int(summary.get(key, 0))


def _updates(outcome: str) -> Callable[[Summary], int]:
    """User and group profile updates together."""
    suffix = f"_{outcome}" if outcome else ""
    return lambda summary: int(summary.get(f"user_updates{suffix}", 0)) + int(summary.get(f"group_updates{suffix}", 0))


# unit -> outcome -> how many of the unit ended so, read from the summary ("in": how many there were).
COLUMNS: dict[str, dict[str, Callable[[Summary], int]]] = {
    "records": {
        "in": _count("records"),
        "parked": _count("records_parked"),  # whole: those whose events cannot be read
        "retry": _count("records_reported"),
    },
    "events": {
        "in": _count("events"),
        "imported": _count("imported"),
        "filtered": _count("filtered"),
        "parked": _count("parked"),
        "retry": _count("retry"),
    },
    "profile updates": {
        "in": _updates(""),
        "imported": _updates("imported"),
        "filtered": _updates("filtered"),
        "parked": _updates("parked"),
        "retry": _updates("retry"),
    },
}
LEGEND = (
    "Counted in three units: the records Lambda delivered, the events they held, the profile updates.",
    "Each one ends in one outcome:",
    "  imported: Mixpanel has it.",
    "  filtered: a TRANSFORMS rule dropped it; it is counted, never parked nor retried.",
    "  parked: refused for good; it waits in the parked-events queue with its reason (an unreadable record, whole).",
    "  retry: its record is reported in batchItemFailures, and Lambda delivers that record again.",
)


def _widths(unit: str) -> list[int]:
    return [max(len(outcome), 2) for outcome in COLUMNS[unit]]


def _group(unit: str, cells: list[str]) -> str:
    return " ".join(cell.rjust(width) for cell, width in zip(cells, _widths(unit), strict=True))


def header() -> list[str]:
    """Two lines: each unit over its outcomes."""
    units = [f" {unit} ".center(len(_group(unit, list(COLUMNS[unit]))), "-") for unit in COLUMNS]
    outcomes = [_group(unit, list(COLUMNS[unit])) for unit in COLUMNS]
    return [f"{'':<{NAME_WIDTH}}  " + "  ".join(units), f"{'invocation':<{NAME_WIDTH}}  " + "  ".join(outcomes)]


def row(label: str, summary: Summary) -> str:
    groups = [_group(unit, [str(count(summary)) for count in COLUMNS[unit].values()]) for unit in COLUMNS]
    return f"{label:<{NAME_WIDTH}}  " + "  ".join(groups)


def parked(summary: Summary) -> int:
    """Everything the invocation parked, in whichever unit."""
    return sum(columns["parked"](summary) for columns in COLUMNS.values())


def reasons(summary: Summary) -> list[str]:
    """Why each thing not imported ended as it did, and the rules that filtered."""
    why = [f"{'':<6}why: {reason} (x{count})" for reason, count in summary.get("reasons", {}).items()]
    return why + [f"{'':<6}filtered by: {rule} (x{count})" for rule, count in summary.get("filtered_by", {}).items()]
