"""Mixpanel's limits on one event's properties, and numbers that cannot be sent exactly.

The limits are those of /import (shared/reference/mixpanel-import.md, "Per event"): "Fewer than 255
properties; nested objects depth ≤ 3 and < 255 keys; arrays < 255 items"; and one event < 1 MB. They
hold for the event as it is sent, once `time`, `$insert_id` and `ip` are added.

orjson reads integers exactly up to 64 bits (-2**63 to 2**64 - 1) and larger ones as rounded floats: a
float of magnitude 2**63 or more may be such an integer, and its item is read again exactly.

Ids are compared as text, but Mixpanel stores a number as a double: an integer id a double cannot hold (beyond 2**53)
is sent as its decimal digits, the same on every endpoint (`id_as_sent`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import Inexact, Invalid
from .model import field_path

MAX_PROPERTIES = 254  # "fewer than 255"
MAX_NESTED_KEYS = 254  # "< 255 keys"
MAX_LIST_ITEMS = 254  # "< 255 items"
MAX_NESTING_DEPTH = 3
MAX_EVENT_BYTES = 1024 * 1024

# A float this large or larger may be an integer orjson could not hold, rounded.
MAYBE_ROUNDED = 2.0**63
# Mixpanel stores numbers as doubles: an integer id beyond 2**53 would lose digits there.
MAX_EXACT_DOUBLE_INT = 2**53
# What the encoder can write exactly: what orjson reads as an integer.
_SMALLEST_INT, _LARGEST_INT = -(2**63), 2**64 - 1
# The types a property scan must look into; everything else (strings, ints, bools, null) needs nothing.
SCANNED = frozenset({dict, list, float})


def nested_ok(value: Any) -> bool:
    """True when a property value nests at most 3 levels, each object or list within the limits, and
    holds no float that may be a rounded integer. False says only "look closer": `check_properties`.

    Unrolled on purpose: one call per nested property instead of one per container (list properties
    of objects, like order items, are common and this runs for every event).
    """
    if len(value) > MAX_NESTED_KEYS:
        return False
    # type() is looked up again inside the branch rather than kept: most values are strings and
    # numbers, and a store per value costs them more than a second lookup costs the rest.
    # -(2.0**63) and 2.0**63 are MAYBE_ROUNDED written out: constants, folded at compile time.
    for child in value.values() if type(value) is dict else value:
        if type(child) in SCANNED:
            child_kind = type(child)
            if child_kind is float:
                if -(2.0**63) < child < 2.0**63:
                    continue
                return False
            if len(child) > MAX_NESTED_KEYS:
                return False
            for grandchild in child.values() if child_kind is dict else child:
                if type(grandchild) in SCANNED:
                    grandchild_kind = type(grandchild)
                    if grandchild_kind is float:
                        if -(2.0**63) < grandchild < 2.0**63:
                            continue
                        return False
                    if len(grandchild) > MAX_NESTED_KEYS:
                        return False
                    for leaf in grandchild.values() if grandchild_kind is dict else grandchild:
                        if type(leaf) in SCANNED and not (type(leaf) is float and -(2.0**63) < leaf < 2.0**63):
                            return False  # a fourth level, or a float that may be rounded
    return True


def id_as_sent(value: int) -> int | str:
    """An integer id as every endpoint gets it: the number while a double holds it exactly, else its digits (a
    double would round it, and two users would share one id)."""
    return value if -MAX_EXACT_DOUBLE_INT <= value <= MAX_EXACT_DOUBLE_INT else str(value)


def maybe_rounded(value: float) -> bool:
    """Whether a float orjson read may be an integer beyond 64 bits, rounded (NaN: no)."""
    return value >= MAYBE_ROUNDED or value <= -MAYBE_ROUNDED


def check_values(properties: dict[str, Any], exact: bool, root: str = "properties") -> None:
    """`check_properties`, after a fast pass that finds most properties fine without naming any path (naming
    one costs an f-string per property): read exactly, every integer must be looked at, so the full check runs."""
    if exact:
        check_properties(properties, exact=True, root=root)
        return
    for value in properties.values():
        if type(value) in SCANNED:  # as in normalize_common
            if type(value) is float:
                if -(2.0**63) < value < 2.0**63:
                    continue
            elif nested_ok(value):
                continue
            check_properties(properties, exact=False, root=root)  # raises, naming the path (NaN: nothing to say)
            return


def check_properties(properties: dict[str, Any], exact: bool, root: str = "properties") -> None:
    """Raises Invalid naming the first property over a limit; then, for properties read by orjson
    (`exact` False), Inexact for a float that may be a rounded integer, or, for properties read
    exactly, Invalid for an integer the encoder cannot write. Returns when there is nothing to say.

    An integer `distinct_id` is left to the caller, which sends a large one as its digits.
    """
    for key, value in properties.items():
        if isinstance(value, dict | list):
            _check_nested(field_path(root, key), value, 1)
    for key, value in properties.items():
        if exact and key == "distinct_id" and type(value) is int:
            continue
        path = inexact_number(field_path(root, key), value, exact)
        if path is None:
            continue
        if exact:
            raise Invalid(path, "is an integer beyond 64 bits: it cannot be sent exactly; send it as a string")
        raise Inexact(path, "may be an integer beyond 64 bits, read rounded")


def _check_nested(path: str, value: Any, depth: int) -> None:
    if depth > MAX_NESTING_DEPTH:
        raise Invalid(path, f"nests deeper than {MAX_NESTING_DEPTH} levels")
    children: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        if len(value) > MAX_NESTED_KEYS:
            raise Invalid(path, f"has {len(value)} keys; Mixpanel takes fewer than {MAX_NESTED_KEYS + 1}")
        children = value.items()
    else:
        if len(value) > MAX_LIST_ITEMS:
            raise Invalid(path, f"has {len(value)} items; Mixpanel takes fewer than {MAX_LIST_ITEMS + 1}")
        children = enumerate(value)
    for key, child in children:
        if isinstance(child, dict | list):
            _check_nested(field_path(path, key), child, depth + 1)


def inexact_number(path: str, value: Any, exact: bool) -> str | None:
    """The path of the first number in `value` that cannot be sent as it is, or None.

    Read by orjson: a float that may be a rounded integer. Read exactly: an integer beyond 64 bits.
    Nesting is within the limits by now, so the recursion is shallow.
    """
    kind = type(value)
    if kind is float:
        return path if not exact and (value >= MAYBE_ROUNDED or value <= -MAYBE_ROUNDED) else None
    if kind is int:
        return path if exact and not _SMALLEST_INT <= value <= _LARGEST_INT else None
    if kind is dict or kind is list:
        for key, child in value.items() if kind is dict else enumerate(value):
            found = inexact_number(field_path(path, key), child, exact)
            if found is not None:
                return found
    return None
