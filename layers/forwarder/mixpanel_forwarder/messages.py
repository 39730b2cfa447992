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


def kind_of_item(item: Item) -> Kind:
    """The kind a message declares by its shape (Invalid when it declares several, or a profile update wrongly)."""
    return Kind.EVENT if item.error is not None else kind_of(item.payload)


def route(item: Item, kind: Kind, rules: MessageRules, exact: bool = False) -> Routed:
    """The message as its destination takes it; Invalid (or Inexact, for the caller to read it exactly) if not.

    Raises TypeError or ValueError when the JSON cannot be written (an integer Mixpanel cannot store). The
    size is the caller's to check: an event refused for it was changed by normalizing on the way.
    """
    if kind is Kind.EVENT:
        return Routed(Kind.EVENT, codec.dumps(normalize(item, rules.now_ms, exact, rules.id_merge)))
    make = user_update if kind is Kind.USER else group_update
    update = make(item.payload, rules.token, INVALID_IDS, exact)  # a copy: the message stays as it arrived
    return Routed(kind, codec.dumps(update), profile_key(kind, update))


def too_large(routed: Routed) -> Invalid | None:
    """Mixpanel's size limit for one message of its kind, or None when within it."""
    size = len(routed.body)
    if routed.kind is Kind.EVENT:
        return Invalid("event", f"{size} bytes, over Mixpanel's 1 MiB per event") if size >= MAX_EVENT_BYTES else None
    return Invalid("update", f"{size} bytes, over Mixpanel's 1 MB per update") if size >= MAX_UPDATE_BYTES else None
