"""Profile updates for the end-to-end producers: the profile each one changes, an operation drawn for what can be
asserted about that profile (profile_model.py), its marker, and poison updates with one defect each.

The marker goes where the update keeps it wherever it ends (the sink's applied updates, a parked document, a
dead-letter queue): `$set` sets `e2e_marker` to it; `$set_once` sets a property named after it (its other value
is fixed per profile and property, so which of two `$set_once` lands first never matters); `$union` adds it to the
list `e2e_unions`; `$unset` unsets a property named after it; `$remove` takes it out of `e2e_removed`, a list no
update makes; `$delete` carries it as its ignored value; `$add` adds 0 to a property named after it; `$append`
appends it to `history`.
"""

from __future__ import annotations

import random
from typing import Any

from tests.e2e.plan import GROUP_KEY, Kind, Message, PlannedUpdate, ProfileKey, Scope

PLACEHOLDERS = ("undefined", "null", "anon", "0", "00000000-0000-0000-0000-000000000000", "N/A", "unknown")
_USER_SET: dict[str, tuple[Any, ...]] = {
    "plan": ("free", "pro", "team", "enterprise"),
    "city": ("Paris", "Lima", "Oslo", "Pune", "Accra"),
    "score": tuple(range(0, 100, 7)),
}
_GROUP_SET: dict[str, tuple[Any, ...]] = {
    "tier": ("bronze", "silver", "gold"),
    "seats": (5, 10, 50, 300),
    "industry": ("retail", "media", "health"),
}
_USER_ONCE = ("first_plan", "first_source")
_GROUP_ONCE = ("founded", "first_region")
_USER_LIST, _GROUP_LIST = "tags", "regions"
_ITEMS = ("a", "b", "c", "d", "e", "f", "g", "h")

# Operations by weight. Ordered profiles take every operation; standard-queue profiles either the ones whose
# outcome does not depend on order (calm) or every one (churn); counters only the two that count twice.
_ORDERED_USER = {"$set": 30, "$set_once": 15, "$union": 20, "$unset": 13, "$remove": 17, "$delete": 5}
_CALM = {"$set": 45, "$set_once": 20, "$union": 35}
_ORDERED_GROUP = {"$set": 40, "$set_once": 20, "$union": 25, "$unset": 15}
_COUNTER = {"$add": 60, "$append": 40}
COUNTER_SHARE = 0.12  # of user updates


class UpdateMaker:
    """Draws updates from `rng`: for a record's scope (ordered profiles) or, without one, standard-queue profiles."""

    def __init__(self, rng: random.Random, *, std_profiles: int, counters: int) -> None:
        self._rng = rng
        self._std_profiles = std_profiles
        self._counters = counters

    def valid(self, message: Message, scope: Scope | None, marker: str) -> tuple[dict[str, Any], PlannedUpdate]:
        """A valid update of `message`'s kind, and what it does."""
        rng = self._rng
        if message is Message.USER:
            if rng.random() < COUNTER_SHARE:
                profile: ProfileKey = f"counter-{rng.randrange(self._counters)}"
                operation = _draw(rng, _COUNTER)
            else:
                profile = self._user(scope)
                operation = _draw(rng, _ORDERED_USER if _churns(profile) else _CALM)
            value = self._value(operation, profile, marker, _USER_SET, _USER_ONCE, _USER_LIST)
            update: dict[str, Any] = {"$distinct_id": profile, operation: value}
            extra = rng.random()
            if extra < 0.05:
                update["$ip"] = "203.0.113.7"
            elif extra < 0.15:
                update["$ignore_time"] = True
        else:
            profile = (GROUP_KEY, self._group_id(scope))
            operation = _draw(rng, _ORDERED_GROUP if _churns(profile) else _CALM)
            value = self._value(operation, profile, marker, _GROUP_SET, _GROUP_ONCE, _GROUP_LIST)
            update = {"$group_key": GROUP_KEY, "$group_id": profile[1], operation: value}
        if rng.random() < 0.05:
            update["$token"] = "a-producer-token"  # the forwarder sends the configured project's instead
        return update, PlannedUpdate(profile, operation, value, update.get("$ip"))

    def poison(self, kind: Kind, scope: Scope | None, marker: str) -> dict[str, Any]:
        """An update with exactly one defect, so the field it is refused on is known in advance."""
        rng = self._rng
        if kind is Kind.TWO_OPERATIONS:
            return {
                "$distinct_id": self._user(scope),
                "$set": {"plan": "pro", "e2e_marker": marker},
                "$unset": ["city"],
            }
        if kind is Kind.ADD_STRING:
            return {"$distinct_id": f"counter-{rng.randrange(self._counters)}", "$add": {"points": marker}}
        if kind is Kind.PLACEHOLDER_DISTINCT_ID:
            return {"$distinct_id": rng.choice(PLACEHOLDERS), "$set": {"plan": "pro", "e2e_marker": marker}}
        if kind is Kind.NO_GROUP_KEY:
            return {"$group_id": self._group_id(scope), "$set": {"tier": "gold", "e2e_marker": marker}}
        if kind is Kind.GROUP_ADD:
            return {"$group_key": GROUP_KEY, "$group_id": self._group_id(scope), "$add": {"seats": 1, marker: 0}}
        raise ValueError(f"{kind} is not a profile update's defect")

    def _user(self, scope: Scope | None) -> str:
        if scope is not None and scope.user is not None:
            return scope.user
        return f"std-{self._rng.randrange(self._std_profiles)}"

    def _group_id(self, scope: Scope | None) -> str:
        if scope is not None and scope.group_id is not None:
            return scope.group_id
        return f"std-{self._rng.randrange(self._std_profiles)}"

    def _value(
        self,
        operation: str,
        profile: ProfileKey,
        marker: str,
        settable: dict[str, tuple[Any, ...]],
        once: tuple[str, ...],
        listed: str,
    ) -> Any:
        rng = self._rng
        if operation == "$set":
            names = rng.sample(sorted(settable), rng.randint(1, 2))
            return {**{name: rng.choice(settable[name]) for name in names}, "e2e_marker": marker}
        if operation == "$set_once":
            name = rng.choice(once)
            return {name: f"{name} of {profile_name(profile)}", f"e2e_once_{marker}": True}
        if operation == "$union":
            return {listed: rng.sample(_ITEMS, rng.randint(1, 3)), "e2e_unions": [marker]}
        if operation == "$remove":
            return {listed: rng.choice(_ITEMS), "e2e_removed": marker}
        if operation == "$unset":
            return [*rng.sample([*sorted(settable), *once, listed], rng.randint(1, 2)), marker]
        if operation == "$delete":
            return marker
        if operation == "$add":
            return {"points": rng.randint(1, 5), f"e2e_add_{marker}": 0}
        if operation == "$append":
            return {"history": marker}
        raise ValueError(f"unknown operation {operation!r}")


def profile_name(profile: ProfileKey) -> str:
    """A user's distinct_id, or a group's id: what names a profile in the producers' ids."""
    return profile if isinstance(profile, str) else profile[1]


def is_ordered(profile: ProfileKey) -> bool:
    """Changed only by records of one FIFO message group or one Kinesis partition key: its updates keep their order."""
    return profile_name(profile).startswith(("fifo-", "kin-"))


def is_counter(profile: ProfileKey) -> bool:
    return profile_name(profile).startswith("counter-")


def _churns(profile: ProfileKey) -> bool:
    """Takes every operation: ordered profiles, and every other standard-queue profile (the rest stay calm)."""
    name = profile_name(profile)
    return is_ordered(profile) or int(name.rsplit("-", 1)[1]) % 2 == 1


def _draw(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]
