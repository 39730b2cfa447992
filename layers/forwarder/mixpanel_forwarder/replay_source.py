"""Parked documents read again as the pipeline's source, for a replay: each document is a record, and its items are
the messages it holds, as they were parked (parked.py has the format).

A message parked before sending is mapped again, so the replay must map it under the rules it was mapped under then:
a document naming settings (`source.rules`) the replay does not have is refused whole, naming them, before any of it
is sent. An item whose other messages were imported when it was parked (`source.messages`) makes only the refused
ones again: Mixpanel must not get twice what it took (an `$add` would count twice).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from . import codec
from .errors import DecodeError
from .model import Item, SourceKind, SourceRecord
from .parked import failures
from .sources import kinesis, sqs


class SentItem(Item):
    """A message parked after Mixpanel refused it: as it was sent, in Mixpanel's shape and transformed already, so
    neither PAYLOAD_FORMAT nor TRANSFORMS apply to it again (a hashed value would be hashed twice)."""

    __slots__ = ()
    sent = True


class PartItem(Item):
    """A parked item some of whose messages were imported: only those `message_keys` names are made again."""

    __slots__ = ("message_keys",)

    def __init__(self, item: Item, message_keys: frozenset[str]) -> None:
        super().__init__(item.payload, item.key, item.default_time_ms, item.error)
        self.message_keys = message_keys


class ReplaySource:
    """A parked document as a source record: a whole record is decoded again, an event is an item.

    `rules` are the mapping settings the replay has, not at their defaults (`Settings.mapping_rules`).
    """

    NAME = "replay"

    def __init__(self, rules: Collection[str] = ()) -> None:
        self._rules = frozenset(rules)

    def source_records(self, event: Any) -> tuple[SourceKind, list[SourceRecord]]:
        return SourceKind.SQS, [_Document(f"p{i}", doc, _origin(doc)) for i, doc in enumerate(event)]

    def decode(self, record: SourceRecord) -> list[Item]:
        document: Any = record.raw
        if type(document) is not dict:
            raise DecodeError("a parked document is a JSON object")
        parked = failures(document)  # a shared document: one per event it holds
        for one in parked:
            _check_coordinates(one.get("source") or {})
        self._check_rules(parked)
        if "events" in document or "event" in document:
            return [_parked_item(one) for one in parked]
        raw = document.get("record")
        if isinstance(raw, dict) and set(raw) == {"base64"}:
            raise DecodeError(
                "the record is kept as the base64 of its bytes, which are no JSON Lambda could deliver (a lone "
                "surrogate): it cannot be replayed as it is; decode it, fix it and send it to the source again"
            )
        if not isinstance(raw, dict):
            raise DecodeError("parked document holds neither an event nor a record")
        return _record_items(document, raw, exact=False)

    def _check_rules(self, parked: list[dict[str, Any]]) -> None:
        """DecodeError when a message parked before sending was mapped by settings this replay does not have."""
        named: set[str] = set()
        for one in parked:
            source = one.get("source") or {}
            if not isinstance(source.get("item"), str):
                continue  # parked as it was sent: mapped already
            rules = source.get("rules", [])
            if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
                raise DecodeError("source.rules must be a list of setting names")
            named.update(rules)
        missing = sorted(named - self._rules)
        if missing:
            raise DecodeError(
                f"parked under {', '.join(missing)}, which this replay does not have (unset or at the default), so it "
                "would map the message otherwise: replay with --function <the forwarder function> to read the "
                "function's settings, or set them as the function has them"
            )


class _Document(SourceRecord):
    """A parked document; one holding a Lambda record can be read again with its integers exact, as the record."""

    __slots__ = ()

    def exact_items(self) -> list[Item]:
        raw = self.raw.get("record") if type(self.raw) is dict else None
        if type(raw) is not dict or "events" in self.raw or "event" in self.raw:
            raise DecodeError("this document cannot be read again")  # parsed already: its payload is no text
        return _record_items(self.raw, raw, exact=True)


def _record_items(document: dict[str, Any], raw: dict[str, Any], exact: bool) -> list[Item]:
    """The items of the Lambda record a document holds (read with every integer exact: `exact`), or the one item it
    was parked for (`source.item`), naming its messages."""
    module = kinesis if raw.get("eventSource") == "aws:kinesis" or "kinesis" in raw else sqs
    _, [original] = module.source_records({"Records": [raw]})
    items: list[Item] = original.exact_items() if exact else module.decode(original)
    source = document.get("source") or {}
    key = source.get("item")
    if not isinstance(key, str):  # the record could not be decoded when it was parked: all of it
        return items
    # The record stands in for one of its messages that could not be written as JSON (an integer beyond 64 bits, say);
    # its other items were imported, or parked on their own.
    found = next((item for item in items if item.key == key), None)
    if found is None:
        raise DecodeError(f"the parked record no longer holds the item {key!r} it was parked for")
    return [_named(found, source)]


def _origin(document: Any) -> dict[str, Any]:
    source = document.get("source") if type(document) is dict else None
    return source if type(source) is dict else {}


def _check_coordinates(source: dict[str, Any]) -> None:
    """DecodeError naming a coordinate that is not what parking writes: read otherwise, it would map the message as
    something else (an `item` that is no string makes it look parked as sent, and skip its rules)."""
    if "item" in source and type(source["item"]) is not str:
        raise DecodeError("source.item must be a string: the key of the item parked")
    default_time = source.get("defaultTimeMs")
    if default_time is not None and type(default_time) is not int:
        raise DecodeError("source.defaultTimeMs must be an integer: epoch milliseconds")


def _parked_item(document: dict[str, Any]) -> Item:
    source = document.get("source") or {}
    key = source.get("item")
    if not isinstance(key, str):
        # Parked after Mixpanel refused it: it was sent, so it has its $insert_id and this key is unused.
        key = "parked:" + hashlib.blake2b(codec.dumps(document), digest_size=16).hexdigest()
        return SentItem(document["event"], key, source.get("defaultTimeMs"))
    return _named(Item(document["event"], key, source.get("defaultTimeMs")), source)


def _named(item: Item, source: dict[str, Any]) -> Item:
    """`item`, or only the messages of it that `source.messages` names."""
    names = source.get("messages")
    if names is None:
        return item
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise DecodeError("source.messages must be a non-empty list of message keys")
    return PartItem(item, frozenset(names))
