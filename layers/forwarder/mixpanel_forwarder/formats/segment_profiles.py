"""Segment's `identify` and `group` calls as Mixpanel profile updates (docs/formats.md, "Segment spec", has the table).

- identify → a user profile `$set` of the traits (Mixpanel's special ones renamed) and of what the context says of
  the user; a push token as a `$union` of its own; under original ID merge, also a `$identify` event.
- group → a group profile `$set` per group id (a trait may list several), and the user's membership: a `$union` of
  the ids into the user's property named by the group key.

Every update carries the message's time as `$time`, in seconds, and a user's `$ignore_time` when the message says
the user was not active (`context.active: false`), so that a profile's last-seen time is when its user was seen,
not when the forwarder ran.
"""

from __future__ import annotations

from typing import Any

from ..errors import Invalid
from ..model import ID_MERGE_ORIGINAL, Item, Kind, excerpt
from ..normalize import is_placeholder
from .base import FormatOptions, Message
from .fields import copy_filled, country_code, group_ids, identifier, insert_id
from .segment_context import profile_place, profile_properties, push_token

# identify's special traits → Mixpanel's reserved profile properties, with the spellings RudderStack's destination
# reads (its MPIdentifyConfig.json and GenericFieldMapping.json); of several, the last here wins, as the first there.
_TRAITS = (
    ("email", "$email"),
    ("first_name", "$first_name"),
    ("firstname", "$first_name"),
    ("firstName", "$first_name"),
    ("last_name", "$last_name"),
    ("lastname", "$last_name"),
    ("lastName", "$last_name"),
    ("name", "$name"),
    ("userName", "$username"),
    ("username", "$username"),
    ("phone", "$phone"),
    ("avatar", "$avatar"),
    ("city", "$city"),
    ("state", "$region"),
)
_ADDRESS = (("city", "$city"), ("state", "$region"))  # under a top-level trait of the same meaning
_CREATED = ("created", "createdAt", "created_at")
_RENAMED = frozenset({*_CREATED, *(trait for trait, _ in _TRAITS)})
NO_TRAITS = "identify without traits"


def identify(
    item: Item, user_id: str | int | None, anonymous_id: str | int | None, time_ms: int | None, options: FormatOptions
) -> list[Message]:
    """The updates of an identify call (and its `$identify` event); filtered when it holds nothing to set."""
    message = item.payload
    context = message.get("context")
    distinct_id = user_id if user_id is not None else anonymous_id
    made: list[Message] = []
    values = profile_properties(context)
    values.update(profile_traits(_user_traits(message)))
    if values:
        update = {"$distinct_id": distinct_id, "$set": values, **profile_place(context)}
        made.append(Message(Kind.USER, item.with_payload(_user_meta(item, update, time_ms))))
    token = push_token(context)
    if token is not None:
        # A `$union`, as Mixpanel's mobile SDKs add a device's token: a user's other devices keep theirs.
        update = {"$distinct_id": distinct_id, "$union": {token[0]: [token[1]]}}
        made.append(Message(Kind.USER, item.with_payload(_user_meta(item, update, time_ms), "/push")))
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


def profile_traits(traits: dict[str, Any]) -> dict[str, Any]:
    """The traits with Mixpanel's special ones renamed (one that is null or empty is dropped); the others as they
    are. A country is `$country_code` when it is a two-letter code, and stays `country` otherwise."""
    mapped = {key: value for key, value in traits.items() if key not in _RENAMED}
    address = traits.get("address")
    copy_filled(address, _ADDRESS, mapped)
    copy_filled(traits, _TRAITS, mapped)
    first, last = mapped.get("$first_name"), mapped.get("$last_name")
    if "$name" not in mapped and type(first) is str and type(last) is str:
        mapped["$name"] = f"{first} {last}"
    code = country_code(traits.get("country"))
    if code is not None:
        del mapped["country"]  # renamed, as the others: a country's name stays as it is
    elif type(address) is dict:
        code = country_code(address.get("country"))
    if code is not None:
        mapped["$country_code"] = code
    _copy_created(traits, mapped)
    return mapped


def group(
    item: Item, user_id: str | int | None, anonymous_id: str | int | None, time_ms: int | None, options: FormatOptions
) -> list[Message]:
    """A group profile update per group id, then the user's membership of them all."""
    message = item.payload
    traits = _traits(message)
    group_key = options.segment_group_key
    trait = traits.get(group_key)
    found = group_ids(trait) if trait is not None else identifier(message, "groupId")
    if found is None:
        raise Invalid("groupId", f"a group call needs groupId (or a {group_key!r} trait)")
    field = f"traits.{group_key}" if trait is not None else "groupId"
    # A list of ids is the user's membership of each (RudderStack sends a profile update per id).
    listed = found if type(found) is list else [found]
    if not listed:
        raise Invalid(field, "must not be empty: a group call needs the group's id")
    for group_id in listed:
        _check_group_id(group_id, field)
    made = []
    profile = {key: value for key, value in traits.items() if key not in ("name", *_CREATED)}
    if traits.get("name") is not None:
        profile["$name"] = traits["name"]
    _copy_created(traits, profile)
    seconds = _seconds(item, time_ms)
    if profile:
        for index, group_id in enumerate(listed):
            update: dict[str, Any] = {"$group_key": group_key, "$group_id": group_id, "$set": profile}
            if seconds is not None:
                update["$time"] = seconds
            made.append(Message(Kind.GROUP, item.with_payload(update, f"/{index}" if index else "")))
    # The user joins the groups: a `$union`, so that a user in several groups keeps them all.
    member = {"$distinct_id": user_id if user_id is not None else anonymous_id, "$union": {group_key: listed}}
    made.append(Message(Kind.USER, item.with_payload(_user_meta(item, member, time_ms), "/member")))
    return made


def _user_meta(item: Item, update: dict[str, Any], time_ms: int | None) -> dict[str, Any]:
    """A user update with the message's `$ip`, `$time` and, when the user was not active, `$ignore_time`."""
    message = item.payload
    ip = _ip(message)
    if ip is not None:
        update["$ip"] = ip  # else "0": the profile is not placed where the function runs
    seconds = _seconds(item, time_ms)
    if seconds is not None:
        update["$time"] = seconds
    context = message.get("context")
    if type(context) is dict and context.get("active") is False:
        update["$ignore_time"] = True  # "will skip updating the $last_seen property"
    return update


def _seconds(item: Item, time_ms: int | None) -> float | None:
    """The message's time (else the envelope's) as `$time` takes it: seconds since the epoch, as Mixpanel's SDKs
    send it (mixpanel-python's `people_update` and `group_update`)."""
    milliseconds = time_ms if time_ms is not None else item.default_time_ms
    return milliseconds / 1000 if milliseconds is not None else None


def _check_group_id(group_id: Any, field: str) -> None:
    """Invalid for a blank or placeholder group id, as the group's profile would be refused for (profiles.py): the
    membership alone would put every user whose call carries it in one group ("undefined")."""
    kind = type(group_id)
    if kind is not str and kind is not int and kind is not float:
        return  # not an id at all: the profile and the membership are each refused for it, naming the field
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
    return ip if ip is not None and ip != "" else message.get("request_ip")
