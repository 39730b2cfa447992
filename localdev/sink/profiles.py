"""Mixpanel's rules for one profile update: what an /engage (user) or /groups (group) update must hold, checked in
the order Mixpanel reports it, and the limits on a request of them.

Each refusal is a `Refused` whose message follows Mixpanel's "<field>, <reason>" form ("token, missing or empty",
"$distinct_id, missing or empty"). Where Mixpanel's documents are silent (research/issue11-facts.md), the sink
is strict in the direction that catches a forwarder's bug: exactly one operation per update, the /import
placeholder ids refused as `$distinct_id`, unknown `$` keys refused; keys without `$` are ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .codec import dumps
from .rules import id_text, is_placeholder

MAX_UPDATES = 2000  # "limits on the total number profile updates that can be sent per request to 2000"
MAX_UPDATE_BYTES = 1024 * 1024  # "each individual update ... to a maximum of 1 MB": an update must be under it

# Values are checked only where Mixpanel's spec gives the shape; what each checker says is wrong, or None.
_SHAPES = ("$set", "$set_once", "$add", "$union", "$append", "$remove", "$unset", "$delete")
_GROUP_UNSUPPORTED = frozenset({"$add", "$append"})  # "(not supported in group profiles)"
# Top-level keys beside the ids and the operation: geolocation, $last_seen, alias and ordering hints.
_META = frozenset({"$ip", "$ignore_time", "$ignore_alias", "$latitude", "$longitude", "$time"})
_HINTS = tuple(sorted(_META - {"$ip"}))  # kept with an update as received (`Update.hints`), for tests to read

UserKey = str
GroupKey = tuple[str, str]
ProfileKey = UserKey | GroupKey


class Refused(ValueError):
    """One update Mixpanel would refuse; `message` is what its verbose answer says."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """/engage or /groups: its path, its name in stats, the keys that name a profile and the operations allowed."""

    path: str
    name: str
    id_keys: tuple[str, ...]
    operations: frozenset[str]
    # Every `$` key its updates may hold (an operation it does not support is refused by name, later).
    keys: frozenset[str] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", _KEYS | set(self.id_keys))


_KEYS = frozenset({"$token", *_META, *_SHAPES})
ENGAGE = Endpoint("/engage", "engage", ("$distinct_id",), frozenset(_SHAPES))
GROUPS = Endpoint("/groups", "groups", ("$group_key", "$group_id"), frozenset(_SHAPES) - _GROUP_UNSUPPORTED)
ENDPOINTS = {endpoint.path: endpoint for endpoint in (ENGAGE, GROUPS)}


@dataclasses.dataclass(frozen=True, slots=True)
class Update:
    """A valid update: the profile it changes, its one operation and that operation's value, its token and $ip, and
    the other keys beside them it carried (`$time`, `$ignore_time`, `$latitude`, …), by name."""

    key: ProfileKey
    operation: str
    value: Any
    token: str
    ip: object  # as received; None when the update carried no $ip
    hints: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def check(endpoint: Endpoint, update: object) -> Update:
    """The update, read; raises Refused with the first rule it breaks."""
    if not isinstance(update, dict):
        raise Refused("update, must be a JSON object")
    token = _token(update)
    key = _user_key(update) if endpoint is ENGAGE else _group_key(update)
    for name in update:
        if name.startswith("$") and name not in endpoint.keys:
            raise Refused(f"{name}, not a key of a {endpoint.path} update")
    operation = _operation(endpoint, update)
    value = update[operation]
    problem = _shape(operation, value)
    if problem is not None:
        raise Refused(f"{operation}, {problem}")
    try:
        size = len(dumps(update))  # measured compact, as the sink re-encodes it
    except TypeError as exc:  # orjson refuses nesting past 255 levels; Mixpanel allows 3
        raise Refused("update, nested too deeply") from exc
    if size >= MAX_UPDATE_BYTES:
        raise Refused(f"update, {MAX_UPDATE_BYTES} bytes or more: each update must be under 1 MB")
    hints = {name: update[name] for name in _HINTS if name in update}
    return Update(key, operation, value, token, update.get("$ip"), hints)


def _token(update: Mapping[str, object]) -> str:
    token = update.get("$token")
    if token is None or token == "":
        raise Refused("token, missing or empty")  # Mixpanel's own words (it names the field without its $)
    if not isinstance(token, str):
        raise Refused("token, must be a string")
    return token


def _id(update: Mapping[str, object], name: str) -> str:
    """A string or a number, as the string Mixpanel keys the profile on."""
    value = update.get(name)
    if value is None or value == "":
        raise Refused(f"{name}, missing or empty")
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(f"{name}, must be a string or a number")
    return id_text(value)  # Mixpanel compares ids as strings: 42 and "42" are one profile


def _user_key(update: Mapping[str, object]) -> UserKey:
    distinct_id = _id(update, "$distinct_id")
    if is_placeholder(update["$distinct_id"]):
        # Documented for /import only; refused here too: a profile keyed on "null" merges unrelated users.
        raise Refused("$distinct_id, a placeholder value (such as null, undefined or anonymous) is not an id")
    return distinct_id


def _group_key(update: Mapping[str, object]) -> GroupKey:
    group_key = update.get("$group_key")
    if group_key is None or group_key == "":
        raise Refused("$group_key, missing or empty")
    if not isinstance(group_key, str):
        raise Refused("$group_key, must be a string")
    return group_key, _id(update, "$group_id")


def _operation(endpoint: Endpoint, update: Mapping[str, object]) -> str:
    """The update's one operation: none, or two, is refused (undocumented; every SDK sends one per update)."""
    present = [name for name in _SHAPES if name in update]
    if not present:
        raise Refused(f"update, no operation: exactly one of {', '.join(sorted(endpoint.operations))} is needed")
    if len(present) > 1:
        raise Refused(f"update, more than one operation ({', '.join(present)}): send each in an update of its own")
    operation = present[0]
    if operation not in endpoint.operations:
        raise Refused(f"{operation}, not supported for group profiles")
    return operation


def _shape(operation: str, value: object) -> str | None:
    """What is wrong with the operation's value, or None: the shapes of Mixpanel's spec."""
    if operation == "$delete":
        return None  # "The $delete object value is ignored"
    if operation == "$unset":
        if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
            return "must be a non-empty list of property names"
        return None
    if not isinstance(value, dict):
        return "must be a JSON object of properties"
    for name, item in value.items():
        if operation == "$add" and (isinstance(item, bool) or not isinstance(item, int | float)):
            return f"'{name}' must be a number"
        if operation == "$union" and (not isinstance(item, list) or not item):
            return f"'{name}' must be a non-empty list"
    return None
