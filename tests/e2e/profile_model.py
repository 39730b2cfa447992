"""The profiles a run must leave in the sink, given the updates it delivered (those the sink applied at least once):
the checks test_nothing_lost.py's docstring describes, with why each goes no further."""

from __future__ import annotations

import copy
import itertools
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from localdev.sink import Profile, Update
from localdev.sink.profile_state import ProfileStore
from tests.e2e.markers import markers_in
from tests.e2e.plan import PlannedUpdate, ProfileKey
from tests.e2e.updates import is_counter, is_ordered


@dataclass
class ProfileReport:
    """What the profile checks found: each list must be empty."""

    ordered: int = 0  # ordered profiles compared with the reference
    elsewhere: int = 0  # ordered profiles last applied out of record order, checked as standard-queue ones
    standard: int = 0
    counters: int = 0
    mismatched: list[str] = field(default_factory=list)  # ordered profiles unlike the reference
    mismatched_keys: list[ProfileKey] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)  # ordered profiles applied out of order, unexplained
    violations: list[str] = field(default_factory=list)  # standard-queue and counter profiles breaking a bound
    altered: list[str] = field(default_factory=list)  # applied updates unlike the one produced
    added: int = 0  # the delivered $add amounts
    points: int = 0  # what the counters hold
    appended: int = 0  # delivered $append
    history: int = 0  # entries in the counters' lists

    def summary(self, resent_not_idempotent: int) -> str:
        return (
            f"profiles: {self.ordered} ordered equal to the reference ({self.elsewhere} more last applied out of "
            f"order after a delivery that did not apply again an update parked or handed on), {self.standard} "
            f"standard-queue and {self.counters} counters within bounds; "
            f"$add delivered {self.added}, counted {self.points}; $append delivered {self.appended}, listed "
            f"{self.history}; ProfileUpdatesResentNotIdempotent {resent_not_idempotent}"
        )


def check_profiles(
    updates: Mapping[str, PlannedUpdate],
    delivered: set[str],
    elsewhere: set[str],
    profiles: Mapping[ProfileKey, Profile],
    applied: list[Update],
    token: str,
) -> ProfileReport:
    """`updates` are the valid ones produced, by marker in record order; `delivered` the markers the sink has,
    `elsewhere` those also parked or in a record the platform handed on (a source DLQ, an on-failure range), so
    that a later delivery of their record may not have applied them again; `profiles` the sink's users and
    groups, and `applied` its updates in the order applied."""
    report = ProfileReport()
    last: dict[str, int] = {}  # marker -> when it was applied last
    for position, update in enumerate(applied):
        found = markers_in(update.value)
        marker = found.pop() if len(found) == 1 else "?"
        last[marker] = position
        sent = updates.get(marker)
        ip = None if isinstance(update.key, tuple) else (sent.ip or "0") if sent else None
        if sent is None or (update.key, update.operation, update.value, update.ip) != (
            sent.profile,
            sent.operation,
            sent.value,
            ip,
        ):
            report.altered.append(f"applied {update}, produced {sent}")
    by_profile: dict[ProfileKey, dict[str, PlannedUpdate]] = defaultdict(dict)
    for marker, update in updates.items():
        if marker in delivered:
            by_profile[update.profile][marker] = update
    exact = set()
    for key, mine in by_profile.items():
        if is_counter(key):
            report.counters += 1
            _check_counter(report, key, list(mine.values()), profiles.get(key))
            continue
        if is_ordered(key):
            # Idempotent operations end where the last application of each update, in that order, leads.
            if _ascending([last[marker] for marker in mine]):
                exact.add(key)
                continue
            report.elsewhere += 1
            if elsewhere.isdisjoint(mine):
                report.out_of_order.append(f"{key}: {_history(key, updates, delivered, applied)}")
        else:
            report.standard += 1
        _check_standard(report, key, list(mine.values()), profiles.get(key))
    _check_ordered(report, {key: by_profile[key] for key in exact}, profiles, token)
    for key in report.mismatched_keys:
        report.mismatched.append(f"{key}: {_history(key, updates, delivered, applied)}")
    return report


def _ascending(positions: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(positions))


def _history(key: ProfileKey, updates: Mapping[str, PlannedUpdate], delivered: set[str], applied: list[Update]) -> str:
    """How a profile got where it is: its updates in record order, and as applied."""
    sent = [f"{m}{u.operation}{'' if m in delivered else ' (not)'}" for m, u in updates.items() if u.profile == key]
    got = [f"{'/'.join(sorted(markers_in(u.value)))}{u.operation}" for u in applied if u.key == key]
    return f"produced {sent}; applied {got}"


def _check_ordered(
    report: ProfileReport,
    by_profile: Mapping[ProfileKey, Mapping[str, PlannedUpdate]],
    profiles: Mapping[ProfileKey, Profile],
    token: str,
) -> None:
    reference = ProfileStore()
    for key, mine in by_profile.items():  # copies: the store keeps values it is given inside its profiles
        reference.apply(Update(key, u.operation, copy.deepcopy(u.value), token, None) for u in mine.values())
    expected: dict[ProfileKey, Profile] = {**reference.users(), **reference.groups()}
    actual = {key: profile for key, profile in profiles.items() if key in by_profile}
    for key in sorted({*expected, *actual}, key=str):
        report.ordered += 1
        want = _members(expected[key].properties) if key in expected else None
        got = _members(actual[key].properties) if key in actual else None
        if want != got:
            report.mismatched.append(f"{key}: expected {want}, found {got}")
            report.mismatched_keys.append(key)


def _members(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties with each list as the sorted set of its members (see the module docstring)."""
    return {
        name: sorted({json.dumps(item, sort_keys=True) for item in value}) if isinstance(value, list) else value
        for name, value in properties.items()
    }


def _check_standard(
    report: ProfileReport, key: ProfileKey, delivered: list[PlannedUpdate], profile: Profile | None
) -> None:
    values: dict[str, list[Any]] = defaultdict(list)  # what $set and $set_once gave each property
    items: dict[str, set[str]] = defaultdict(set)  # what $union gave each list, as JSON
    touched: set[str] = set()  # properties an $unset or $remove may have taken away from
    deleted = False
    for update in delivered:
        if update.operation in ("$set", "$set_once"):
            for name, value in update.value.items():
                values[name].append(value)
        elif update.operation == "$union":
            for name, listed in update.value.items():
                items[name].update(json.dumps(item) for item in listed)
        elif update.operation in ("$unset", "$remove"):
            touched.update(update.value)  # property names, or for $remove the lists it takes from
        elif update.operation == "$delete":
            deleted = True
    properties = profile.properties if profile is not None else {}
    for name, value in properties.items():
        possible = isinstance(value, list) and {json.dumps(item) for item in value} <= items.get(name, set())
        if not possible and value not in values.get(name, []):
            report.violations.append(f"{key}: {name}={value!r} is not a value a delivered update gave it")
    if deleted:
        return
    if profile is None:
        if values or items:  # $unset and $remove alone make no profile
            report.violations.append(f"{key}: missing, though no delivered update deleted it")
        return
    for name in set(values) - touched:
        if name not in properties:
            report.violations.append(f"{key}: {name} is missing, though no delivered update took it away")
    for name, members in items.items():
        found = properties.get(name)
        if name not in touched and (not isinstance(found, list) or {json.dumps(i) for i in found} != members):
            report.violations.append(f"{key}: {name}={found!r}, expected the members {sorted(members)}")


def _check_counter(
    report: ProfileReport, key: ProfileKey, delivered: list[PlannedUpdate], profile: Profile | None
) -> None:
    added = sum(u.value["points"] for u in delivered if u.operation == "$add")
    appended = [u.value["history"] for u in delivered if u.operation == "$append"]
    properties = profile.properties if profile is not None else {}
    points = properties.get("points", 0)
    history = properties.get("history", [])
    report.added += added
    report.points += points
    report.appended += len(appended)
    report.history += len(history)
    if points < added:
        report.violations.append(f"{key}: points {points}, less than the {added} delivered")
    missing = set(appended) - set(history)
    if missing:
        report.violations.append(f"{key}: history lacks the delivered appends {sorted(missing)}")
