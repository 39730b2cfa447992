"""The general path for one message: what it is, and the JSON its destination takes; or Invalid, saying why.

Events that are common in shape never come here (pipeline: `normalize_common`); everything else does: events
needing more work, user and group profile updates, and whatever is none of these.
"""

from __future__ import annotations

from . import codec
from .errors import Invalid
from .model import Item, Kind
from .normalize import INVALID_IDS, MAX_EVENT_BYTES, normalize
from .profiles import MAX_UPDATE_BYTES, group_update, kind_of, profile_key, user_update


class Routed:
    """A message ready for its destination: its kind, its JSON, and for a profile update the profile's key."""

    __slots__ = ("body", "key", "kind")

    def __init__(self, kind: Kind, body: bytes, key: str | None = None) -> None:
        self.kind = kind
        self.body = body
        self.key = key


class MessageRules:
    """What the general path needs beyond the message: the time now, the project token, the identity API."""

    __slots__ = ("id_merge", "now_ms", "token")

    def __init__(self, now_ms: int, token: str | None, id_merge: str) -> None:
        self.now_ms = now_ms
        self.token = token
        self.id_merge = id_merge


class TooLarge(Invalid):
    """Over Mixpanel's size for one message of its kind: refused as it arrived (normalizing changed it)."""


def kind_of_item(item: Item) -> Kind:
    """The kind a message declares by its shape (Invalid when it declares several, or a profile update wrongly)."""
    payload = item.payload
    if item.error is not None or type(payload) is not dict:
        return Kind.EVENT
    profile_fields = "$distinct_id" in payload or "$group_key" in payload or "$group_id" in payload
    if "event" in payload and not profile_fields:
        return Kind.EVENT  # most messages here: events needing more work than the common path's
    return kind_of(payload)


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
    update = make(item.payload, rules.token, INVALID_IDS, exact)  # a copy: the message stays as it arrived
    body = codec.dumps(update)
    if len(body) >= MAX_UPDATE_BYTES:
        raise TooLarge("update", f"{len(body)} bytes, over Mixpanel's 1 MB per update")
    return Routed(kind, body, profile_key(kind, update))
