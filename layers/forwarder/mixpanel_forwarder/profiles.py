"""User and group profile updates: what a message is, and the update as `/engage` or `/groups` takes it.

The rules are Mixpanel's (docs/messages.md cites each): one operation per update; the value shape each
operation takes; `$add` and `$append` for user profiles only; the project token inside each update (`$token`);
a placeholder `$distinct_id` refused as for events; 1 MB per update. An update is sent with `"$ip": "0"`
unless it has its own `$ip`, so that Mixpanel does not geolocate the profile to the function's AWS region. An integer
`$distinct_id` or `$group_id` goes as events' ids go (`limits.id_as_sent`): exact, and the same JSON on every endpoint.

The token is written in when a request is encoded (`token_field`), from the credentials it is sent with: a request
resent after the secret was read again carries the new one. Here an update is only refused when there is none.
"""

from __future__ import annotations

from typing import Any

from . import codec
from .errors import Inexact, Invalid
from .limits import MAX_EVENT_BYTES, check_values, id_as_sent, maybe_rounded
from .model import Kind, excerpt, key_name

MAX_UPDATE_BYTES = MAX_EVENT_BYTES  # "limit each individual update … to a maximum of 1 MB"
NO_TOKEN = (  # why an update cannot be sent
    "no project token to send profile updates with: "  # noqa: S105 - a message, not a token
    'set MIXPANEL_PROJECT_TOKEN, or a "token" in the credentials secret'
)


USER_OPERATIONS = ("$set", "$set_once", "$add", "$union", "$append", "$remove", "$unset", "$delete")
GROUP_OPERATIONS = ("$set", "$set_once", "$union", "$remove", "$unset", "$delete")
# Sent twice, these change the profile twice: a resend after an answer that may have been applied is counted.
NOT_IDEMPOTENT = frozenset({"$add", "$append"})
# Beside the operation, what an update may carry (its own $token is replaced by the configured one when sent).
_USER_FIELDS = frozenset(
    {"$distinct_id", "$token", "$ip", "$ignore_time", "$ignore_alias", "$latitude", "$longitude", "$time"}
)
# `$time` too: Mixpanel's own SDK sends one with every group update (mixpanel-python's `group_update`).
_GROUP_FIELDS = frozenset({"$group_key", "$group_id", "$token", "$time"})


def kind_of(message: Any) -> Kind:
    """The kind of a message the event path did not take; Invalid, saying what was found, when it is none or several."""
    if type(message) is not dict:
        return Kind.EVENT  # normalize says why a non-object is no event
    found = [
        name
        for name, present in (
            (Kind.EVENT, "event" in message),
            (Kind.USER, "$distinct_id" in message),
            (Kind.GROUP, "$group_key" in message or "$group_id" in message),
        )
        if present
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        if any(operation in message for operation in USER_OPERATIONS):
            raise Invalid("$distinct_id", "a profile update needs $distinct_id (or $group_key and $group_id)")
        return Kind.EVENT  # normalize says what an event lacks
    fields = {Kind.EVENT: "event", Kind.USER: "$distinct_id", Kind.GROUP: "$group_key/$group_id"}
    named = " and ".join(fields[kind] for kind in found)
    raise Invalid("message", f"has {named}: a message is one event, user update or group update, not several")


def user_update(
    message: dict[str, Any], token: str | None, placeholders: frozenset[str], exact: bool = False
) -> dict[str, Any]:
    """The update as /engage takes it, or Invalid naming the field and the rule (Inexact: read it exactly)."""
    distinct_id = _check_id("$distinct_id", message.get("$distinct_id"), placeholders, exact)
    if distinct_id is not message["$distinct_id"]:
        message = {**message, "$distinct_id": distinct_id}  # an integer as its digits: a copy, as it arrived
    operation = _one_operation(message, USER_OPERATIONS, _USER_FIELDS, "user", exact)
    return _sendable(message, operation, token, ip=True)


def group_update(
    message: dict[str, Any], token: str | None, placeholders: frozenset[str], exact: bool = False
) -> dict[str, Any]:
    """The update as /groups takes it, or Invalid naming the field and the rule (Inexact: read it exactly)."""
    group_key = message.get("$group_key")
    if type(group_key) is not str or not group_key.strip():
        raise Invalid("$group_key", "must be a non-empty string: the group key set up in the project")
    group_id = _check_id("$group_id", message.get("$group_id"), placeholders, exact)
    if group_id is not message["$group_id"]:
        message = {**message, "$group_id": group_id}
    operation = _one_operation(message, GROUP_OPERATIONS, _GROUP_FIELDS, "group", exact)
    return _sendable(message, operation, token, ip=False)


def profile_key(kind: Kind, update: dict[str, Any]) -> str:
    """Which profile an update changes: updates with the same key must arrive in order."""
    if kind is Kind.USER:
        return f"user:{update['$distinct_id']}"
    return f"group:{update['$group_key']}:{update['$group_id']}"


def operation_of(update: dict[str, Any]) -> str:
    return next(name for name in USER_OPERATIONS if name in update)


def _check_id(field: str, value: Any, placeholders: frozenset[str], exact: bool) -> Any:
    """The id as it is sent (an integer a double cannot hold as its digits); Invalid if it is none, Inexact when
    it may be an integer beyond 64 bits read rounded (the caller reads it again exactly)."""
    kind = type(value)
    if kind is not str and kind is not int and kind is not float:
        raise Invalid(field, "must be a string or a number")
    if kind is float and not exact and maybe_rounded(value):
        raise Inexact(field, "may be an integer beyond 64 bits, read rounded")
    text = value if kind is str else str(value)
    if not text.strip():
        raise Invalid(field, "must not be empty")
    if text.lower() in placeholders:
        raise Invalid(field, f"{excerpt(value)} is a placeholder Mixpanel refuses")
    return id_as_sent(value) if kind is int else value


def _one_operation(
    message: dict[str, Any], operations: tuple[str, ...], fields: frozenset[str], kind: str, exact: bool
) -> str:
    present = [name for name in operations if name in message]
    for key in message:
        if key in fields or key in present:
            continue
        if key in USER_OPERATIONS:  # an operation users take and groups do not
            raise Invalid(key_name(key), "is not supported for group profiles")
        raise Invalid(key_name(key), f"is not an operation or field of a {kind} profile update")
    if len(present) != 1:
        if not present:
            raise Invalid("operation", f"a {kind} profile update needs one operation of {', '.join(operations)}")
        raise Invalid("operation", f"has {' and '.join(present)}: one operation per update (send two updates)")
    operation = present[0]
    value = message[operation]
    _check_value(operation, value)
    if type(value) is dict:  # the same limits as event properties: nesting, sizes, numbers sent exactly
        check_values(value, exact, root=operation)
    return operation


def _check_value(operation: str, value: Any) -> None:
    if operation == "$delete":
        return  # "The $delete object value is ignored"
    if operation == "$unset":
        if type(value) is not list or not value or any(type(name) is not str for name in value):
            raise Invalid("$unset", "must be a non-empty list of property names")
        return
    if type(value) is not dict or not value:
        raise Invalid(operation, "must be a non-empty object of property names and values")
    if operation == "$add":
        for name, number in value.items():
            if type(number) is not int and type(number) is not float:
                raise Invalid(f"$add.{key_name(name)}", "must be a number")
    elif operation == "$union":
        for name, items in value.items():
            if type(items) is not list or not items:
                raise Invalid(f"$union.{key_name(name)}", "must be a non-empty list")
            if any(type(each) is not str and type(each) is not int and type(each) is not float for each in items):
                raise Invalid(f"$union.{key_name(name)}", "must list strings or numbers")


def token_field(token: str) -> bytes:
    """What the `{` opening an update (an object, never empty) becomes when it is sent: `{"$token":"…",`."""
    return b'{"$token":' + codec.dumps(token) + b","


def token_bytes(token: str) -> int:
    """The bytes the token adds to each update when it is sent."""
    return len(token_field(token)) - 1


def _sendable(message: dict[str, Any], operation: str, token: str | None, ip: bool) -> dict[str, Any]:
    """The update without a token (token_field writes the configured one in when it is sent), and its $ip."""
    if token is None:
        raise Invalid("$token", NO_TOKEN)
    update = {key: value for key, value in message.items() if key != "$token"}  # the producer's is never sent
    if ip and "$ip" not in update:
        update["$ip"] = "0"  # else Mixpanel geolocates the profile to the request's address: the AWS region
    return update
