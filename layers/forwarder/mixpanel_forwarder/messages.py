"""The general path for one item: the messages it holds in its format, each after the TRANSFORMS rules as its
destination takes it (its kind and JSON), or why not: refused (Invalid) or filtered out by a rule.

Events that are common in shape never come here (pipeline: `normalize_common`); everything else does: events
needing more work, user and group profile updates, messages in another format, and whatever is none of these.
"""

from __future__ import annotations

from typing import Any

from . import codec
from .errors import Inexact, Invalid
from .formats import FormatOptions, Message, read_messages
from .model import FORMAT_AUTO, ID_MERGE_SIMPLIFIED, Failure, Item, Kind, Stage
from .normalize import INVALID_IDS, MAX_EVENT_BYTES, lift_top_level, normalize, normalize_common
from .profiles import MAX_UPDATE_BYTES, group_update, profile_key, token_bytes, user_update
from .transforms import Filtered, Transforms


class Routed:
    """A message ready for its destination: its kind, its JSON, and for a profile update the profile's key. An event
    a format or a transform made, and common in shape, comes as `event`, the dict `normalize_common` returns, to be
    encoded in a run with others; its `body` is then made only if asked for. `message`: as Refused's."""

    __slots__ = ("_body", "event", "key", "kind", "message")

    def __init__(self, kind: Kind, body: bytes, key: str | None = None, event: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self._body = body
        self.key = key
        self.event = event
        self.message: str | None = None

    @property
    def body(self) -> bytes:
        if self.event is not None and not self._body:
            self._body = codec.dumps(self.event)
        return self._body


class Refused:
    """A message that will not be sent, and why. `changed`: the refusal came after normalizing edited the message
    (too large, or not encodable), so what is parked must be read again as it arrived. `message`: the message's key
    (its item's, with a suffix when the item makes several; `route_item` sets it on every outcome), which a parked
    item names to be made again alone."""

    __slots__ = ("changed", "failure", "kind", "message")

    def __init__(self, kind: Kind, failure: Failure, changed: bool = False, message: str | None = None) -> None:
        self.kind = kind
        self.failure = failure
        self.changed = changed
        self.message = message


class FilteredOut:
    """A message a TRANSFORMS rule filtered out. `message`: as Refused's."""

    __slots__ = ("kind", "message", "rule")

    def __init__(self, kind: Kind, rule: str) -> None:
        self.kind = kind
        self.rule = rule
        self.message: str | None = None


Outcome = Routed | Refused | FilteredOut


class MessageRules:
    """What the general path needs beyond the message: the time now, the project token, the identity API, the
    payload format and what its formats read, and the transforms (bound to their hash key)."""

    __slots__ = ("formats", "id_merge", "now_ms", "payload_format", "token", "transforms")

    def __init__(
        self,
        now_ms: int,
        token: str | None,
        id_merge: str = ID_MERGE_SIMPLIFIED,
        payload_format: str = FORMAT_AUTO,
        transforms: Transforms | None = None,
        formats: FormatOptions | None = None,
    ) -> None:
        self.now_ms = now_ms
        self.token = token
        self.id_merge = id_merge
        self.payload_format = payload_format
        self.transforms = transforms
        self.formats = formats if formats is not None else FormatOptions(id_merge)


class TooLarge(Invalid):
    """Over Mixpanel's size for one message of its kind: refused as it arrived (normalizing changed it)."""


def route_item(item: Item, rules: MessageRules, exact: bool = False) -> list[Outcome]:
    """The outcome of each message `item` holds (one, or more when a format makes several of one call).

    Raises Invalid when the item as a whole is no message of the format, and Inexact (for the caller to read the
    item again exactly) when a number may be an integer beyond 64 bits, rounded.
    """
    transforms = None if item.sent else rules.transforms  # a message parked as sent was transformed then
    outcomes = []
    for message in item_messages(item, rules):
        outcome = _route_one(message, rules, transforms, exact, item)
        outcome.message = message.item.key
        outcomes.append(outcome)
    return outcomes


def item_messages(item: Item, rules: MessageRules) -> list[Message]:
    """The messages `route_item` routes, in its order; Invalid as it says."""
    messages = read_messages(item, rules.payload_format, rules.formats)
    if item.message_keys is not None:  # replayed: the others were imported when it was parked
        messages = _named(messages, item.message_keys)
    return messages


def _named(messages: list[Message], keys: frozenset[str]) -> list[Message]:
    """The messages `keys` name; Invalid when one of them is not made any more (other settings than when it was
    parked), since routing the rest alone would drop it silently. An item refused as a whole now says why instead."""
    if keys <= {message.item.key for message in messages}:
        return [message for message in messages if message.item.key in keys]
    refusals = [message for message in messages if message.refusal is not None]
    if refusals:
        return refusals
    raise Invalid(
        "source.messages",
        f"names {len(keys)} message(s) of this item, and not all of them are made of it under these settings: "
        "replay with the settings it was parked under (--function)",
    )


def _route_one(
    message: Message, rules: MessageRules, transforms: Transforms | None, exact: bool, original: Item
) -> Outcome:
    kind, item = message.kind, message.item
    if message.skipped is not None:
        return FilteredOut(kind, message.skipped)
    if message.refusal is not None:
        return Refused(kind, Failure(message.refusal.message, message.refusal.field, Stage.INVALID))
    try:
        if transforms is not None and item.error is None and type(item.payload) is dict:
            transformed = _transformed(kind, item.payload, transforms, exact)
            if type(transformed) is Filtered:
                return FilteredOut(kind, transformed.rule)
            item = item.with_payload(transformed)
        if kind is Kind.EVENT and item is not original and not exact and type(item.payload) is dict:
            # Made here (by a format or a transform): it may be common in shape, then it takes the common step.
            event = normalize_common(item.payload, item, rules.now_ms)
            if event is not None:
                return Routed(Kind.EVENT, b"", event=event)
        return route(item, kind, rules, exact)
    except Inexact:
        raise
    except TooLarge as exc:
        return Refused(kind, Failure(exc.message, exc.field, Stage.INVALID), changed=True)
    except Invalid as exc:
        stage = Stage.DECODE if item.error is not None else Stage.INVALID
        return Refused(kind, Failure(exc.message, exc.field, stage))
    except (TypeError, ValueError) as exc:  # e.g. an integer JSON allows but Mixpanel cannot store
        failure = Failure(f"cannot be encoded as JSON: {exc}", "properties", Stage.INVALID)
        return Refused(kind, failure, changed=True)


def _transformed(kind: Kind, message: dict[str, object], transforms: Transforms, exact: bool) -> object:
    """The message after the rules (new dicts), or Filtered; an event without a name or with properties that are not
    an object is left as it is, for validation to say why. Inexact when a value to hash may have been rounded."""
    if kind is not Kind.EVENT:
        return transforms.update(message, exact)
    name, properties = message.get("event"), message.get("properties", {})
    if type(name) is not str or not name or type(properties) is not dict:
        return message
    if len(message) != 2 or "properties" not in message:
        properties = lift_top_level(message, properties)
    return transforms.event(name, properties, exact)


def route(item: Item, kind: Kind, rules: MessageRules, exact: bool = False) -> Routed:
    """The message as its destination takes it; Invalid (or Inexact, for the caller to read it exactly) if not.

    Raises TypeError or ValueError when the JSON cannot be written (an integer Mixpanel cannot store), and
    TooLarge over Mixpanel's size (an event refused for it was changed by normalizing on the way).
    """
    if kind is Kind.EVENT:
        body = codec.dumps(normalize(item, rules.now_ms, exact, rules.id_merge))
        if len(body) >= MAX_EVENT_BYTES:
            raise TooLarge("event", f"{len(body)} bytes, over Mixpanel's 1 MiB per event")
        return Routed(Kind.EVENT, body)
    make = user_update if kind is Kind.USER else group_update
    token = rules.token
    update = make(item.payload, token, INVALID_IDS, exact)  # a copy: the message stays as it arrived
    assert token is not None  # make refuses an update when there is none
    body = codec.dumps(update)
    size = len(body) + token_bytes(token)  # as sent, with the token that is written in then
    if size >= MAX_UPDATE_BYTES:
        raise TooLarge("update", f"{size} bytes, over Mixpanel's 1 MB per update")
    return Routed(kind, body, profile_key(kind, update))
