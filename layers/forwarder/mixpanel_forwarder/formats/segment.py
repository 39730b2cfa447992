"""Segment-spec messages (Segment, RudderStack) as Mixpanel messages, following Segment's own Mixpanel (Actions)
destination; README, "Segment spec", has the table, its sources and where we chose otherwise.

- track → an event named `event`; page / screen → "Viewed {name}" ("Loaded a Page" / "Loaded a Screen" without a
  name), with `name` and `category` as properties.
- identify → a user profile `$set` of the traits, Mixpanel's special traits renamed; under original ID merge, also a
  `$identify` event linking `anonymousId` to `userId`.
- group → a group profile `$set` on the group key (SEGMENT_GROUP_KEY), and the user's membership: `$union` of the
  group id into the user's property of that name.
- alias → a `$create_alias` event (refused under simplified ID merge, which ignores it).
A call whose `integrations` turns Mixpanel off, by either name Segment gives its destination, is filtered: Segment
would not have sent it to Mixpanel either.
"""

from __future__ import annotations

from typing import Any

from ..errors import Inexact, Invalid
from ..model import ID_MERGE_ORIGINAL, Item, Kind, excerpt
from ..normalize import is_placeholder, normalize_common
from .base import SEGMENT_CALLS as CALLS
from .base import FormatOptions, Message
from .fields import copy_present, first_time, group_ids, identifier, insert_id
from .segment_context import context_properties

_KIND_OF_CALL = {"identify": Kind.USER, "group": Kind.GROUP}
# "timestamp … is used by Segment to send to downstream destinations"; the others stand in when it is missing.
TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
# Properties the message's own fields set: a property of the same name is dropped, as Segment's destination does.
_RESERVED = frozenset({"time", "id", "distinct_id", "$insert_id", "$user_id", "$device_id", "$anon_id", "$group_id"})
# identify's special traits → Mixpanel's reserved profile properties.
_TRAITS = (
    ("email", "$email"),
    ("firstName", "$first_name"),
    ("lastName", "$last_name"),
    ("name", "$name"),
    ("username", "$username"),
    ("phone", "$phone"),
    ("avatar", "$avatar"),
)
_CREATED = ("created", "createdAt", "created_at")
NO_TRAITS = "identify without traits"
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
            return _identify(item, user_id, anonymous_id, time_ms, options)
        if call == "group":
            return _group(item, user_id, anonymous_id, options)
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
    own = message.get("properties")
    if own is not None:
        if type(own) is not dict:
            raise Invalid("properties", "must be an object")
        properties.update(own)
        if not _RESERVED.isdisjoint(own):  # rare: a step per reserved name only then
            for key in _RESERVED.intersection(own):
                del properties[key]
    if "ip" not in properties and message.get("request_ip") is not None:
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
    """`$create_alias`: the previous id gets `userId` as an alias (Mixpanel's original ID merge)."""
    previous = identifier(message, "previousId")
    if previous is None or user_id is None:
        raise Invalid("previousId", "an alias call needs previousId and userId")
    properties["distinct_id"] = previous
    properties["alias"] = user_id
    return properties


def _identify(
    item: Item,
    user_id: str | int | None,
    anonymous_id: str | int | None,
    time_ms: int | None,
    options: FormatOptions,
) -> list[Message]:
    message = item.payload
    made: list[Message] = []
    traits = _user_traits(message)
    if traits:
        update = {"$distinct_id": user_id if user_id is not None else anonymous_id, "$set": _profile_traits(traits)}
        _with_ip(message, update)
        made.append(Message(Kind.USER, item.with_payload(update)))
    if options.id_merge == ID_MERGE_ORIGINAL and user_id is not None and anonymous_id not in (None, user_id):
        properties: dict[str, Any] = {"distinct_id": user_id, "$identified_id": user_id, "$anon_id": anonymous_id}
        ip = _ip(message)
        if ip is not None:
            properties["ip"] = ip
        if time_ms is not None:
            properties["time"] = time_ms
        found = insert_id(message.get("messageId"))
        if found is not None:
            properties["$insert_id"] = found
        made.append(
            Message(Kind.EVENT, item.with_payload({"event": "$identify", "properties": properties}, "/identify"))
        )
    return made or [Message(Kind.USER, item, skipped=NO_TRAITS)]


def _profile_traits(traits: dict[str, Any]) -> dict[str, Any]:
    """The traits with Mixpanel's special ones renamed; the others as they are."""
    renamed = {"created", "createdAt", "created_at", *(trait for trait, _ in _TRAITS)}
    mapped = {key: value for key, value in traits.items() if key not in renamed}
    copy_present(traits, _TRAITS, mapped)
    first, last = traits.get("firstName"), traits.get("lastName")
    if "$name" not in mapped and type(first) is str and type(last) is str:
        mapped["$name"] = f"{first} {last}"
    _copy_created(traits, mapped)
    return mapped


def _group(
    item: Item, user_id: str | int | None, anonymous_id: str | int | None, options: FormatOptions
) -> list[Message]:
    message = item.payload
    traits = _traits(message)
    group_key = options.segment_group_key
    trait = traits.get(group_key)
    group_id = group_ids(trait) if trait is not None else identifier(message, "groupId")
    if group_id is None:
        raise Invalid("groupId", f"a group call needs groupId (or a {group_key!r} trait)")
    _check_group_id(group_id, f"traits.{group_key}" if trait is not None else "groupId")
    made = []
    profile = {key: value for key, value in traits.items() if key not in ("name", *_CREATED)}
    if traits.get("name") is not None:
        profile["$name"] = traits["name"]
    _copy_created(traits, profile)
    if profile:
        update = {"$group_key": group_key, "$group_id": group_id, "$set": profile}
        made.append(Message(Kind.GROUP, item.with_payload(update)))
    # The user joins the group: a list, so that a user in several groups keeps them all.
    member = {"$distinct_id": user_id if user_id is not None else anonymous_id, "$union": {group_key: [group_id]}}
    _with_ip(message, member)
    made.append(Message(Kind.USER, item.with_payload(member, "/member")))
    return made


def _check_group_id(group_id: Any, field: str) -> None:
    """Invalid for a blank or placeholder group id, as the group's profile would be refused for (profiles.py): the
    membership alone would put every user whose call carries it in one group ("undefined")."""
    kind = type(group_id)
    if kind is not str and kind is not int and kind is not float:
        return  # not an id at all: the profile and the membership are each refused for it, naming $group_id
    text = group_id if kind is str else str(group_id)
    if not text.strip():
        raise Invalid(field, "must not be empty: a group call needs the group's id")
    if is_placeholder(text):
        raise Invalid(field, f"{excerpt(group_id)} is a placeholder Mixpanel refuses as an id")


def _copy_created(traits: dict[str, Any], into: dict[str, Any]) -> None:
    created = next((traits[key] for key in _CREATED if traits.get(key) is not None), None)
    if created is not None:
        into["$created"] = created


def _traits(message: dict[str, Any]) -> dict[str, Any]:
    """A group's traits: its `traits` alone. Its `context.traits` are the user's ("traits of the current user", the
    Segment spec), not the group's; RudderStack's destination reads only `traits` for a group too."""
    return _object(message.get("traits"), "traits")


def _user_traits(message: dict[str, Any]) -> dict[str, Any]:
    """An identify's traits: `context.traits` (where RudderStack's SDKs put them), then the call's own `traits` over
    them, as a call's properties win over its context."""
    context = message.get("context")
    in_context = _object(context.get("traits") if type(context) is dict else None, "context.traits")
    own = _traits(message)
    return {**in_context, **own} if in_context else own


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is not None and type(value) is not dict:
        raise Invalid(field, "must be an object")
    return value or {}


def _ip(message: dict[str, Any]) -> Any:
    """The client's address: `context.ip`, else RudderStack's `request_ip` (the address its server saw)."""
    context = message.get("context")
    ip = context.get("ip") if type(context) is dict else None
    return ip if ip is not None else message.get("request_ip")


def _with_ip(message: dict[str, Any], update: dict[str, Any]) -> None:
    ip = _ip(message)
    if ip is not None:
        update["$ip"] = ip  # else "0": the profile is not placed where the function runs
