"""Amplitude's export JSON (what its Kinesis Data Stream and Firehose destinations send) as Mixpanel messages;
docs/formats.md, "Amplitude", has the table and its sources.

An event becomes a Mixpanel event, and with AMPLITUDE_USER_PROPERTIES=profile its `user_properties` also a user
profile `$set`. Amplitude's own `$identify` and `$groupidentify` records are profile updates: their properties (flat,
or under Amplitude's operations `$set`, `$setOnce`, `$add`, `$append`, `$unset`, `$remove`) become one update per
operation. Each update carries the record's time as `$time`, so that Mixpanel orders it by when it happened.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import Inexact, Invalid
from ..model import Item, Kind
from .base import FormatOptions, Message
from .fields import country_code, first_time, group_ids, identifier, insert_id

# "event_time … Amplitude uses this timestamp to organize events on Amplitude charts"; the others stand in for it.
TIME_FIELDS = ("event_time", "client_event_time", "server_upload_time")
IDENTIFY, GROUP_IDENTIFY = "$identify", "$groupidentify"
# Under Mixpanel's own name where it has one (its SDKs send these, and its reports know them), else Amplitude's.
_FIELDS = (
    ("os_name", "$os"),
    ("os_version", "$os_version"),
    ("device_model", "$model"),
    ("device_manufacturer", "$manufacturer"),
    ("device_brand", "$brand"),
    ("device_family", "$device"),
    ("device_carrier", "$carrier"),
    ("library", "mp_lib"),
    ("location_lat", "$latitude"),  # Mixpanel places the event by these "instead of the IP address"
    ("location_lng", "$longitude"),
    ("device_type", "device_type"),
    ("platform", "platform"),
    ("language", "language"),
    ("session_id", "session_id"),
    ("dma", "dma"),  # Mixpanel finds no marketing area from an IP
    ("paying", "paying"),
    ("start_version", "start_version"),
    ("amplitude_id", "amplitude_id"),  # the user's number in Amplitude: links an event to its history there
)
# A place given by name counts only without an IP address: Mixpanel prefers a place given to the address's.
_PLACE = (("city", "$city"), ("region", "$region"))
# Amplitude's user property operations → Mixpanel's.
_OPERATIONS = {
    "$set": "$set",
    "$setOnce": "$set_once",
    "$add": "$add",
    "$append": "$append",
    "$unset": "$unset",
    "$remove": "$remove",
}
NO_PROPERTIES = "identify without properties"


def messages(item: Item, options: FormatOptions) -> list[Message]:
    """The Mixpanel messages of one Amplitude record; a refused one says why, naming Amplitude's field."""
    message = item.payload
    name = message.get("event_type")
    if type(name) is not str or not name.strip():
        raise Invalid("event_type", "an Amplitude event needs event_type, its name")
    kind = Kind.USER if name == IDENTIFY else Kind.GROUP if name == GROUP_IDENTIFY else Kind.EVENT
    try:
        user_id, device_id = identifier(message, "user_id"), identifier(message, "device_id")
        if user_id is None and device_id is None:
            raise Invalid("user_id", "an Amplitude event needs user_id or device_id")
        distinct_id = user_id if user_id is not None else device_id
        time_ms = first_time(message, TIME_FIELDS)
        at = time_ms if time_ms is not None else item.default_time_ms  # the envelope's, as for an event
        # Seconds, as Mixpanel's HTTP spec and its own SDKs give it (docs/formats.md, "Amplitude")
        when = {} if at is None else {"$time": at / 1000}
        if kind is Kind.GROUP:
            return _group_updates(item, when) or [Message(kind, item, skipped=NO_PROPERTIES)]
        user = {"$distinct_id": distinct_id, **when}
        if kind is Kind.USER:
            updates = _updates(item, message.get("user_properties"), "user_properties", user)
            return updates or [Message(kind, item, skipped=NO_PROPERTIES)]
        made = [_event(item, name, user_id, device_id, time_ms)]
        if options.amplitude_user_properties:
            user_properties = message.get("user_properties")
            if type(user_properties) is dict and user_properties:
                update = {**user, "$set": user_properties}
                made.append(Message(Kind.USER, item.with_payload(_with_ip(message, update), "/user")))
        return made
    except Inexact:
        raise  # read the record again exactly
    except Invalid as exc:
        return [Message(kind, item, exc)]


def _event(
    item: Item, name: str, user_id: str | int | None, device_id: str | int | None, time_ms: int | None
) -> Message:
    message = item.payload
    properties = _copy(message, _FIELDS, {})
    version = _present(message, "version_name")
    version = version if version is not None else _present(message, "app_version")
    if version is not None:
        properties["$app_version_string"] = version
    created = _present(message, "user_creation_time")
    if created is not None:
        properties["user_creation_time"] = _as_mixpanel_date(created)
    ip = _present(message, "ip_address")
    if ip is not None:
        properties["ip"] = ip
    else:
        _copy(message, _PLACE, properties)
        country = _present(message, "country")
        code = country_code(country)
        if code is not None:
            properties["mp_country_code"] = code
        elif country is not None:
            properties["country"] = country  # a name: Mixpanel's mp_country_code holds two-letter codes only
    for field in ("event_properties", "groups"):  # a group's key and id last: with them the event joins the group
        found = message.get(field)
        if found is not None and type(found) is not dict:
            raise Invalid(field, "must be an object")
        if field == "groups" and found:
            found = {key: group_ids(ids) for key, ids in found.items()}  # as $groupidentify's $group_id
        properties.update(found or {})
    properties["distinct_id"] = user_id if user_id is not None else device_id
    if user_id is not None:
        properties["$user_id"] = user_id
    if device_id is not None:
        properties["$device_id"] = device_id
    if time_ms is not None:
        properties["time"] = time_ms
    found_id = insert_id(message.get("$insert_id") if message.get("$insert_id") is not None else message.get("uuid"))
    if found_id is not None:
        properties["$insert_id"] = found_id
    return Message(Kind.EVENT, item.with_payload({"event": name, "properties": properties}))


def _present(message: dict[str, Any], field: str) -> Any:
    """The field's value; None when absent, null or empty (`""` would show in Mixpanel as a value)."""
    value = message.get(field)
    return None if value == "" else value


def _copy(message: dict[str, Any], pairs: tuple[tuple[str, str], ...], into: dict[str, Any]) -> dict[str, Any]:
    for field, target in pairs:
        value = message.get(field)
        if value is not None and value != "":
            into[target] = value
    return into


def _as_mixpanel_date(value: Any) -> Any:
    """Amplitude's `2025-03-14 09:26:53.000000` (UTC) as Mixpanel's date type takes it, `2025-03-14T09:26:53`;
    anything else as it is."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.replace(microsecond=0, tzinfo=None).isoformat()


def _updates(item: Item, properties: Any, field: str, target: dict[str, Any], suffix: str = "") -> list[Message]:
    """One update of `target` (a user's or group's keys) per operation in `properties`: flat properties are a
    `$set`, and beside operations they join the `$set` operation's, which wins on a name in both: Amplitude's own
    identify API allows no flat properties beside operations, and says to put them "inside the `$set` operation".
    None when there are none, absent or `{}`: nothing to set."""
    if properties is None or properties == {}:
        return []
    if type(properties) is not dict:
        raise Invalid(field, "must be an object")
    kind = Kind.USER if "$distinct_id" in target else Kind.GROUP
    operations = [key for key in properties if key.startswith("$")]
    if not operations:
        return [Message(kind, item.with_payload(_with_ip(item.payload, {**target, "$set": properties}), suffix))]
    flat = {key: value for key, value in properties.items() if not key.startswith("$")}
    if flat and "$set" not in properties:
        operations.insert(0, "$set")  # the flat properties, before the operations, as if they had been a `$set`
    made = []
    for operation in operations:
        mixpanel = _OPERATIONS.get(operation)
        if mixpanel is None:
            raise Invalid(f"{field}.{operation}", f"has no Mixpanel operation; these do: {', '.join(_OPERATIONS)}")
        values = properties.get(operation, {})
        if operation == "$set" and flat:
            if type(values) is not dict:
                raise Invalid(f"{field}.$set", "must be an object")
            values = {**flat, **values}
        if mixpanel == "$unset" and type(values) is dict:
            values = list(values)  # Amplitude names the properties as keys ("$unset": {"plan": "-"})
        update = _with_ip(item.payload, {**target, mixpanel: values})
        made.append(Message(kind, item.with_payload(update, f"{suffix}/{operation}")))
    return made


def _group_updates(item: Item, when: dict[str, Any]) -> list[Message]:
    """`$groupidentify`: the group properties on each group named in `groups` ({"company": "42"}), `when` they
    were set."""
    groups = item.payload.get("groups")
    if type(groups) is not dict or not groups:
        raise Invalid("groups", "a $groupidentify record needs groups: the group's key and id")
    named = [(key, ids if type(ids) is list else [ids]) for key, ids in groups.items()]
    if not any(ids for _, ids in named):  # {"company": []}: whatever its properties, there is no group to give them to
        raise Invalid("groups", "names no group id (each list is empty): a $groupidentify record needs the group's id")
    made = []
    for key, ids in named:
        for position, group_id in enumerate(ids):
            target = {"$group_key": key, "$group_id": group_id, **when}
            suffix = _group_suffix(key, position if len(ids) > 1 else None)
            made += _updates(item, item.payload.get("group_properties"), "group_properties", target, suffix)
    return made


def _group_suffix(key: str, position: int | None) -> str:
    """What tells apart the keys of a group's messages (a parked item names them): the group key, and the id's
    position when the key lists several (not the id, which an operator may correct before a replay). A "/" in the
    key is escaped, so that no two groups of one record share a suffix."""
    escaped = key.replace("%", "%25").replace("/", "%2F")
    return f"/{escaped}" if position is None else f"/{escaped}/{position}"


def _with_ip(message: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    ip = _present(message, "ip_address")
    if ip is not None and "$distinct_id" in update:
        update["$ip"] = ip  # else "0": the profile is not placed where the function runs
    return update
