"""Segment-spec messages (Segment, RudderStack) as Mixpanel messages, following Segment's own Mixpanel (Actions)
destination and RudderStack's; docs/formats.md, "Segment spec", has the table, its sources and where we chose otherwise.

- track → an event named `event`; page / screen → "Viewed {name}" ("Loaded a Page" / "Loaded a Screen" without a
  name), with `name` and `category` as properties.
- identify, group → profile updates (segment_profiles.py).
- alias → a `$create_alias` event (refused under simplified ID merge, which ignores it).
A call whose `integrations` turns Mixpanel off, by either name Segment gives its destination, is filtered: Segment
would not have sent it to Mixpanel either.
"""

from __future__ import annotations

from typing import Any

from ..errors import Inexact, Invalid
from ..model import Item, Kind
from ..normalize import normalize_common
from .base import SEGMENT_CALLS as CALLS
from .base import FormatOptions, Message
from .fields import first_time, identifier, insert_id
from .segment_context import context_properties, session_id
from .segment_profiles import group, identify

_KIND_OF_CALL = {"identify": Kind.USER, "group": Kind.GROUP}
# "timestamp … is used by Segment to send to downstream destinations"; the others stand in when it is missing.
TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
# Properties the message's own fields set: a property of the same name is dropped, as Segment's destination does.
_RESERVED = frozenset({"time", "id", "distinct_id", "$insert_id", "$user_id", "$device_id", "$anon_id", "$group_id"})
# The names Segment's Mixpanel destinations go by in a message's `integrations` (Classic, Actions; RudderStack's is
# the first): `false` under either keeps the message from Mixpanel.
MIXPANEL_DESTINATIONS = ("Mixpanel", "Mixpanel (Actions)")
MIXPANEL_OFF = "integrations turn Mixpanel off"


def messages(item: Item, options: FormatOptions) -> list[Message]:
    """The Mixpanel messages of one Segment call; a refused one says why, naming the Segment field."""
    message = item.payload
    call = message.get("type")
    if type(call) is not str or call not in CALLS:
        raise Invalid("type", f"must be one of {', '.join(CALLS)}: the message is not a Segment-spec call")
    kind = _KIND_OF_CALL.get(call, Kind.EVENT)
    if mixpanel_off(message.get("integrations")):
        return [Message(kind, item, skipped=MIXPANEL_OFF)]
    try:
        user_id, anonymous_id = identifier(message, "userId"), identifier(message, "anonymousId")
        if user_id is None and anonymous_id is None:
            raise Invalid("userId", "a Segment message needs userId or anonymousId")
        time_ms = first_time(message, TIME_FIELDS)
        if call == "identify":
            return identify(item, user_id, anonymous_id, time_ms, options)
        if call == "group":
            return group(item, user_id, anonymous_id, time_ms, options)
        properties = _event_properties(message, user_id, anonymous_id, time_ms)
        if call == "alias":
            return [_event(item, "$create_alias", _alias_properties(message, user_id, properties))]
        return [_event(item, _event_name(message, call, properties), properties)]
    except Inexact:
        raise  # read the record again exactly
    except Invalid as exc:
        return [Message(kind, item, exc)]


_EVENT_CALLS = frozenset({"track", "page", "screen"})


def common_event(message: dict[str, Any], item: Item, now_ms: int) -> dict[str, Any] | None:
    """A `track`, `page` or `screen` call in one step: the event exactly as `messages` and the common step make it
    (a property test holds the two together), or None for the general path, which says why when it refuses.

    Most messages of a Segment stream are these calls; the steps the general path takes for every kind of call
    (a Message and an Item per message, routing) cost about as much as mapping one.
    """
    call = message.get("type")
    if call not in _EVENT_CALLS:
        return None
    integrations = message.get("integrations")
    if integrations and mixpanel_off(integrations):
        return None
    try:
        user_id, anonymous_id = identifier(message, "userId"), identifier(message, "anonymousId")
        if user_id is None and anonymous_id is None:
            return None
        properties = _event_properties(message, user_id, anonymous_id, first_time(message, TIME_FIELDS))
    except Invalid:
        return None
    return normalize_common({"event": _event_name(message, call, properties), "properties": properties}, item, now_ms)


def mixpanel_off(integrations: Any) -> bool:
    """Whether a message's `integrations` says `false` to a Mixpanel destination by name. `"All": false` alone does
    not: the message came to this forwarder through a destination it was sent to by name (a stream, a bus), which
    is here to feed Mixpanel."""
    return type(integrations) is dict and any(integrations.get(name) is False for name in MIXPANEL_DESTINATIONS)


def _event(item: Item, name: Any, properties: dict[str, Any]) -> Message:
    return Message(Kind.EVENT, item.with_payload({"event": name, "properties": properties}))


def _event_name(message: dict[str, Any], call: str, properties: dict[str, Any]) -> Any:
    if call == "track":
        return message.get("event")  # validation refuses one that is no name
    name, category = message.get("name"), message.get("category")
    if name is not None:
        properties["name"] = name
    if category is not None:
        properties["category"] = category
    if type(name) is str and name.strip():
        return f"Viewed {name}"
    return "Loaded a Page" if call == "page" else "Loaded a Screen"


def _event_properties(
    message: dict[str, Any], user_id: str | int | None, anonymous_id: str | int | None, time_ms: int | None
) -> dict[str, Any]:
    """The context's properties, then the call's own (theirs win), then what the message's fields say."""
    properties = context_properties(message.get("context"))
    session = message.get("session_id")  # RudderStack's, over its context.sessionId
    if session is not None and session != "":
        properties["$session_id"] = session_id(session)
    own = message.get("properties")
    if own is not None:
        if type(own) is not dict:
            raise Invalid("properties", "must be an object")
        properties.update(own)
        if not _RESERVED.isdisjoint(own):  # rare: a step per reserved name only then
            for key in _RESERVED.intersection(own):
                del properties[key]
    if "ip" not in properties and message.get("request_ip") not in (None, ""):
        properties["ip"] = message["request_ip"]  # RudderStack's, where its SDKs set no context.ip
    properties["distinct_id"] = user_id if user_id is not None else anonymous_id
    if user_id is not None:
        properties["$user_id"] = user_id
    if anonymous_id is not None:
        properties["$device_id"] = anonymous_id
    if time_ms is not None:
        properties["time"] = time_ms  # else the source's own timestamp, as for any event without one
    found = insert_id(message.get("messageId"))
    if found is not None:
        properties["$insert_id"] = found  # else one derived from where the message sits in its record
    return properties


def _alias_properties(message: dict[str, Any], user_id: str | int | None, properties: dict[str, Any]) -> dict[str, Any]:
    """`$create_alias`: the previous id (else `anonymousId`, as RudderStack's destination reads it) gets `userId`
    as an alias (Mixpanel's original ID merge)."""
    previous = identifier(message, "previousId")
    if previous is None:
        previous = identifier(message, "anonymousId")
    if previous is None or user_id is None:
        raise Invalid("previousId", "an alias call needs previousId (or anonymousId) and userId")
    if previous == user_id:
        raise Invalid("previousId", "is userId: an id cannot be its own alias")
    properties["distinct_id"] = previous
    properties["alias"] = user_id
    return properties
