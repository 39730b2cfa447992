"""Seeded, varied profile updates (user and group, issue 11) and the mixed message list that interleaves them with
events, for the invocations that carry both."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.draws import base36, popular, token
from bench.events import User, make_events, make_users
from bench.vocabulary import (
    CAMPAIGNS,
    COMPANY_SUFFIXES,
    COUNTRIES,
    EMAIL_DOMAINS,
    FEATURES,
    FIRST_NAMES,
    GROUPS,
    INDUSTRIES,
    INTEGRATIONS,
    LANGUAGES,
    LAST_NAMES,
    PLANS,
    REFERRERS,
    SECTIONS,
    SEED,
    T0_S,
    TIMEZONES,
    UNSET,
    UTM_SOURCES,
    WORDS,
)

# The share of each kind of message in the mixed invocation (issue 11): events, user updates, group updates.
MIX = {"event": 0.7, "user": 0.2, "group": 0.1}


def _date(seconds: int) -> str:
    """A date property as Mixpanel reads one: ISO-8601 without a zone (UTC), whole seconds."""
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}"


def _some(rng: random.Random, choices: dict[str, Callable[[], Any]], low: int, high: int) -> dict[str, Any]:
    """`low` to `high` of the properties in `choices`, in their order, each value made only when chosen."""
    names = set(rng.sample(tuple(choices), rng.randint(low, high)))
    return {name: make() for name, make in choices.items() if name in names}


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(tuple(weights), tuple(weights.values()))[0]


# Operations by how often SDKs and back ends send them: mostly $set, then counters, first-touch facts, lists.
_USER_OPERATIONS = {"$set": 45, "$set_once": 15, "$add": 15, "$union": 15, "$unset": 10}
_GROUP_OPERATIONS = {"$set": 60, "$set_once": 20, "$union": 20}


def make_user_update(rng: random.Random, users: list[User]) -> dict[str, Any]:
    """One /engage update about an identified user: one operation on a few properties of varied types, sometimes
    with `$ignore_time` (a back end's update, not the user's activity), the user's `$ip` or a `$time`."""
    user = popular(rng, users)
    person = random.Random(user.distinct_id)  # the same name and email in every update about this user
    first, last, domain = person.choice(FIRST_NAMES), person.choice(LAST_NAMES), person.choice(EMAIL_DOMAINS)
    first_seen = T0_S - rng.randint(0, 400 * 86_400)
    operation = _weighted(rng, _USER_OPERATIONS)
    value: dict[str, Any] | list[str]
    if operation == "$set":
        value = _some(
            rng,
            {
                "$name": lambda: f"{first} {last}",
                "$email": lambda: f"{first.lower()}.{last.lower()}{person.randint(1, 99)}@{domain}",
                "$avatar": lambda: f"https://cdn.example.com/avatars/{user.distinct_id}.png",
                "plan": lambda: rng.choice(PLANS),
                "seats": lambda: rng.randint(1, 250),
                "lifetime_value": lambda: rng.randint(0, 500_000) / 100,
                "is_trial": lambda: rng.random() < 0.3,
                "last_login": lambda: _date(T0_S - rng.randint(0, 30 * 86_400)),
                "language": lambda: rng.choice(LANGUAGES),
                "timezone": lambda: rng.choice(TIMEZONES),
                "$country_code": lambda: user.country,
                "notifications": lambda: {"email": rng.random() < 0.7, "push": rng.random() < 0.4},
                "favorite_categories": lambda: rng.sample(SECTIONS, rng.randint(1, 3)),
                "referral_code": lambda: None if rng.random() < 0.5 else base36(rng, 8),  # null: cleared
            },
            3,
            7,
        )
    elif operation == "$set_once":
        value = _some(
            rng,
            {
                "first_seen": lambda: _date(first_seen),
                "signup_source": lambda: rng.choice(UTM_SOURCES),
                "initial_referrer": lambda: rng.choice(REFERRERS),
                "signup_platform": lambda: user.lib,
                "first_plan": lambda: rng.choice(PLANS),
            },
            2,
            3,
        )
    elif operation == "$add":
        value = _some(
            rng,
            {
                "logins": lambda: 1,
                "orders": lambda: rng.randint(1, 3),
                "lifetime_value": lambda: rng.randint(199, 25_000) / 100,
                "credits": lambda: -rng.randint(1, 50),
            },
            1,
            2,
        )
    elif operation == "$union":
        value = _some(
            rng,
            {
                "viewed_categories": lambda: rng.sample(SECTIONS, rng.randint(1, 3)),
                "campaigns": lambda: rng.sample(CAMPAIGNS, rng.randint(1, 2)),
                "browsers": lambda: [user.browser],
                "cohort_ids": lambda: [rng.randint(1000, 9999) for _ in range(rng.randint(1, 3))],
            },
            1,
            2,
        )
    else:
        value = rng.sample(UNSET, rng.randint(1, 3))
    update: dict[str, Any] = {"$distinct_id": user.distinct_id, operation: value}
    if rng.random() < 0.2:
        update["$ignore_time"] = True
    if rng.random() < 0.1:
        update["$ip"] = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if rng.random() < 0.15:
        update["$time"] = (T0_S - rng.randint(0, 86_400)) * 1000 + rng.randint(0, 999)  # milliseconds
    return update


@dataclass(frozen=True)
class _Group:
    """A company, account or team of group analytics: its group key, its id (a string, or a number) and name."""

    key: str
    id: str | int
    name: str


def _make_group(rng: random.Random) -> _Group:
    name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {rng.choice(COMPANY_SUFFIXES)}"
    kind = rng.random()
    if kind < 0.5:
        return _Group("company_id", f"cmp_{token(rng, 14)}", name)
    if kind < 0.8:
        return _Group("account_id", rng.randint(10_000, 9_999_999), name)  # a number, as many CRMs export it
    return _Group("team_id", "T" + base36(rng, 8).upper(), name)


def make_group_update(rng: random.Random, groups: list[_Group]) -> dict[str, Any]:
    """One /groups update: $set (most), $set_once or $union on a few properties of a company, account or team."""
    group = popular(rng, groups)
    domain = group.name.split()[0].lower() + ".example.com"
    operation = _weighted(rng, _GROUP_OPERATIONS)
    if operation == "$set":
        value = _some(
            rng,
            {
                "$name": lambda: group.name,
                "plan": lambda: rng.choice(PLANS),
                "seats": lambda: rng.randint(5, 5000),
                "mrr": lambda: rng.randint(2_900, 2_500_000) / 100,
                "industry": lambda: rng.choice(INDUSTRIES),
                "country": lambda: rng.choice(COUNTRIES),
                "domain": lambda: domain,
                "is_enterprise": lambda: rng.random() < 0.2,
                "renewal_date": lambda: _date(T0_S + rng.randint(1, 365) * 86_400),
                "owner_email": lambda: f"{rng.choice(FIRST_NAMES).lower()}@{domain}",
            },
            3,
            6,
        )
    elif operation == "$set_once":
        value = _some(
            rng,
            {
                "created_at": lambda: _date(T0_S - rng.randint(30, 2000) * 86_400),
                "first_plan": lambda: rng.choice(PLANS),
                "signup_channel": lambda: rng.choice(UTM_SOURCES),
                "founded_year": lambda: rng.randint(1970, 2024),
            },
            2,
            3,
        )
    else:
        value = _some(
            rng,
            {
                "features": lambda: rng.sample(FEATURES, rng.randint(1, 3)),
                "integrations": lambda: rng.sample(INTEGRATIONS, rng.randint(1, 2)),
            },
            1,
            2,
        )
    return {"$group_key": group.key, "$group_id": group.id, operation: value}


def kind_counts(n: int, shares: dict[str, float]) -> dict[str, int]:
    """How many messages of each kind (`MIX`'s names) `n` messages in these shares hold: every kind is named, and
    the counts add up to `n` (the first kind takes what rounding leaves)."""
    counts = {kind: round(n * shares.get(kind, 0.0)) for kind in MIX}
    first = next(kind for kind in MIX if kind in shares)
    counts[first] += n - sum(counts.values())
    return counts


def make_messages(n: int, shares: dict[str, float], seed: int = SEED) -> list[dict[str, Any]]:
    """`n` messages: events, user and group updates in these shares (see `kind_counts`), interleaved at random.

    The events are `make_events`' (the same seed gives the same events as the events-only invocations start with);
    the updates are about the same users, and the order of kinds is drawn from the seed too.
    """
    counts = kind_counts(n, shares)
    events = iter(make_events(counts["event"], seed))
    users = [user for user in make_users(random.Random(seed)) if not user.distinct_id.startswith("$device:")]
    rng = random.Random(f"{seed}:profile updates")
    groups = [_make_group(rng) for _ in range(GROUPS)]
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    rng.shuffle(kinds)
    make: dict[str, Callable[[], dict[str, Any]]] = {
        "event": lambda: next(events),
        "user": lambda: make_user_update(rng, users),  # updates are about identified users only
        "group": lambda: make_group_update(rng, groups),
    }
    return [make[kind]() for kind in kinds]


def message_kind(message: dict[str, Any]) -> str:
    """The kind of one of `make_messages`' messages, by its keys as the forwarder tells them."""
    if "event" in message:
        return "event"
    return "user" if "$distinct_id" in message else "group"
