"""The profiles the sink keeps: users by distinct_id, groups by (group_key, group_id), each changed by valid
updates in the order they arrive, with each operation doing what Mixpanel documents it does.

Where the documents are silent the sink chooses, and says so here: an operation that only takes away ($unset,
$remove) never creates a profile; $add, $union and $append leave a property of the wrong type as it is; $remove
takes out every equal item (so resending it changes nothing); values are equal when their JSON is.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .profiles import GroupKey, ProfileKey, Update, UserKey

Properties = dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """One profile as the sink holds it: its properties, and the `$ip` of every update applied to it, in order
    (None where an update carried none): tests check what the forwarder sent for geolocation."""

    properties: Properties
    ips: tuple[object, ...]

    @property
    def ip(self) -> object:
        """The `$ip` of the last update applied to the profile."""
        return self.ips[-1]


@dataclasses.dataclass(slots=True)
class _Held:
    properties: Properties = dataclasses.field(default_factory=dict)
    ips: list[object] = dataclasses.field(default_factory=list)


class ProfileStore:
    """Users and groups behind one lock: a request's updates are applied together, in array order, and each one
    applied is kept, in that order (tests account for every update they sent, and count those applied twice)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._profiles: dict[ProfileKey, _Held] = {}  # user keys are strings, group keys pairs: never equal
        self._applied: list[Update] = []

    def apply(self, updates: Iterable[Update]) -> None:
        with self._lock:
            for update in updates:
                # A copy: `$set` puts the update's own lists in the profile, where later updates change them.
                self._applied.append(dataclasses.replace(update, value=copy.deepcopy(update.value)))
                self._apply(update)

    def applied(self) -> list[Update]:
        """Every update applied, in the order applied (a new list; the updates are frozen)."""
        with self._lock:
            return list(self._applied)

    def users(self) -> dict[UserKey, Profile]:
        """A deep copy of the user profiles, by distinct_id."""
        with self._lock:
            return {key: _copy(held) for key, held in self._profiles.items() if isinstance(key, str)}

    def groups(self) -> dict[GroupKey, Profile]:
        """A deep copy of the group profiles, by (group_key, group_id)."""
        with self._lock:
            return {key: _copy(held) for key, held in self._profiles.items() if isinstance(key, tuple)}

    def counts(self) -> tuple[int, int]:
        """How many user profiles and group profiles there are."""
        with self._lock:
            users = sum(isinstance(key, str) for key in self._profiles)
            return users, len(self._profiles) - users

    def clear(self) -> None:
        with self._lock:
            self._profiles.clear()
            self._applied.clear()

    def _apply(self, update: Update) -> None:
        if update.operation == "$delete":
            self._profiles.pop(update.key, None)
            return
        held = self._profiles.get(update.key)
        if held is None:
            if update.operation in ("$unset", "$remove"):
                return  # nothing to take away from: no empty profile appears
            held = self._profiles[update.key] = _Held()
        _OPERATIONS[update.operation](held.properties, update.value)
        held.ips.append(update.ip)


def _copy(held: _Held) -> Profile:
    return Profile(copy.deepcopy(held.properties), tuple(copy.deepcopy(held.ips)))


def _set(properties: Properties, value: Properties) -> None:
    properties.update(value)


def _set_once(properties: Properties, value: Properties) -> None:
    for name, item in value.items():
        properties.setdefault(name, item)


def _add(properties: Properties, value: dict[str, float]) -> None:
    """Adds each number; a missing property counts as 0."""
    for name, number in value.items():
        current = properties.get(name, 0)
        if _is_number(current):
            properties[name] = current + number


def _union(properties: Properties, value: dict[str, list[Any]]) -> None:
    """Adds the items the list does not hold yet, each once; a missing property is an empty list."""
    for name, items in value.items():
        current = properties.get(name, [])
        if not isinstance(current, list):
            continue
        seen = {_same(item) for item in current}
        for item in items:
            if _same(item) not in seen:
                seen.add(_same(item))
                current.append(item)
        properties[name] = current


def _append(properties: Properties, value: Properties) -> None:
    """Appends one value, duplicates and all; a missing property becomes a list of it."""
    for name, item in value.items():
        current = properties.setdefault(name, [])
        if isinstance(current, list):
            current.append(item)


def _remove(properties: Properties, value: Properties) -> None:
    """Takes the value out of a list property; a property that is missing or no list stays as it is."""
    for name, item in value.items():
        current = properties.get(name)
        if isinstance(current, list):
            properties[name] = [kept for kept in current if _same(kept) != _same(item)]


def _unset(properties: Properties, value: list[str]) -> None:
    for name in value:
        properties.pop(name, None)


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _same(value: object) -> str:
    """What equality is judged on: the JSON, keys sorted (so True is not 1, as Python's == would have it)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


_OPERATIONS: dict[str, Callable[[Properties, Any], None]] = {
    "$set": _set,
    "$set_once": _set_once,
    "$add": _add,
    "$union": _union,
    "$append": _append,
    "$remove": _remove,
    "$unset": _unset,
}
