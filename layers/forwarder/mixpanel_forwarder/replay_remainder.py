"""What stays parked of a replayed document some of whose messages landed (imported, or filtered out by a rule) and
some did not (refused again, or not delivered): the document in its place names only those that did not, so that the
next replay never sends again what Mixpanel took (an `$add` would count twice).

An entry (an item) all of whose messages landed is left out; one some of whose messages landed names the others in
`source.messages`, with the replay's mapping settings in `source.rules` (its message keys are theirs); one none of
whose messages landed stays as it was. A record parked whole (it could not be decoded then) becomes one record
document per item that did not land, each naming its item (`source.item`). parked.py has the format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .errors import DecodeError
from .ledger import Ledger
from .model import Item, SourceRecord, State
from .parked import Parked, failures

_LANDED = frozenset({State.IMPORTED, State.FILTERED})
_ALL_LANDED: Any = object()

Outcomes = list[list[tuple[bool, str | None]]]  # per item of a document, per message: landed, and its key


def remainders(
    ledger: Ledger,
    records: list[SourceRecord],
    kept: Iterable[int],
    rules: tuple[str, ...],
    decode: Callable[[SourceRecord], list[Item]],
) -> dict[int, list[Parked]]:
    """For each `kept` document (by record number) of which some message landed, what to park in its place: a
    document whose messages did not all land and cannot be narrowed (a message without a key) is not among them."""
    outcomes = _outcomes(ledger, set(kept) - ledger.record_failures.keys())
    rests = {}
    for number, items in outcomes.items():
        if not any(landed for messages in items for landed, _ in messages):
            continue  # nothing of it landed: it stays as it is
        rest = _remainder(records[number], items, rules, decode)
        if rest is not None:
            rests[number] = [parked._replace(group=number) for parked in rest]  # entries of one document together
    return rests


def _outcomes(ledger: Ledger, wanted: set[int]) -> dict[int, Outcomes]:
    """The messages of each wanted record's items, in order (an item's extra messages follow its first)."""
    found: dict[int, Outcomes] = {number: [] for number in wanted}
    states, extra, keys = ledger.states, ledger.extra, ledger.message_keys
    for index, record in enumerate(ledger.record_of):
        items = found.get(record)
        if items is None:
            continue
        if index not in extra or not items:
            items.append([])
        items[-1].append((states[index] in _LANDED, keys.get(index)))
    return found


def _remainder(
    record: SourceRecord, items: Outcomes, rules: tuple[str, ...], decode: Callable[[SourceRecord], list[Item]]
) -> list[Parked] | None:
    document: dict[str, Any] = record.raw
    if "events" in document or "event" in document:
        entries = failures(document)
        if len(entries) != len(items):
            return None
        rest = []
        for entry, messages in zip(entries, items, strict=True):
            source = _rest_of(entry.get("source") or {}, messages, rules)
            if source is None:
                return None
            if source is not _ALL_LANDED:
                rest.append(Parked(_reason(entry, "event"), source, "event", entry.get("event")))
        return rest
    source = document.get("source") or {}
    reason = _reason(document, "record")
    if isinstance(source.get("item"), str):  # the record stands in for one item, which did not all land
        narrowed = _rest_of(source, items[0], rules) if len(items) == 1 else None
        if narrowed is None or narrowed is _ALL_LANDED:
            return None
        return [Parked(reason, narrowed, "record", document["record"])]
    try:
        decoded = decode(record)  # parked whole: now one document per item that did not land, naming it
    except DecodeError:
        return None
    if len(decoded) != len(items):
        return None
    rest = []
    for item, messages in zip(decoded, items, strict=True):
        named = _rest_of({**source, "item": item.key}, messages, rules)
        if named is None:
            return None
        if named is not _ALL_LANDED:
            rest.append(Parked(reason, _with_rules(named, rules), "record", document["record"]))
    return rest


def _rest_of(source: dict[str, Any], messages: list[tuple[bool, str | None]], rules: tuple[str, ...]) -> Any:
    """The item's source naming what did not land: _ALL_LANDED, the source as it is when nothing landed, or None
    when a message that did not land has no key to be named by."""
    left = [key for landed, key in messages if not landed]
    if not left:
        return _ALL_LANDED
    if len(left) == len(messages):
        return source
    if any(key is None for key in left):
        return None
    return _with_rules({**source, "messages": left}, rules)


def _with_rules(source: dict[str, Any], rules: tuple[str, ...]) -> dict[str, Any]:
    """The keys named were made under the replay's mapping settings: a later replay needs them too."""
    rest = {name: value for name, value in source.items() if name != "rules"}
    return {**rest, "rules": list(rules)} if rules else rest


def _reason(document: dict[str, Any], payload_key: str) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name not in ("source", payload_key)}
