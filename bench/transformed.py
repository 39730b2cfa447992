"""The benchmark's TRANSFORMS case (issue 12): the seven rules of the issue, and Mixpanel events for them to act on.

The events are the headline's (`bench.events.make_events`, same seed), then made into what such rules are written
for, with a seeded draw of their own: identified users' events carry the user's email as `userEmail` (renamed to
`$email`, then hashed) and sometimes a `phone` (hashed); a few a `password` or `card_number` (dropped); some are the
legacy `signup` (renamed), and a few are noise, `Heartbeat` or `debug …`, which the rules filter out. The
benchmark expects exactly the rest at the sink.
"""

from __future__ import annotations

import json
import random
from typing import Any

from bench.draws import token
from bench.events import make_events
from bench.vocabulary import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, SEED
from localdev.demo_formats import SEVEN_RULES

RULES: dict[str, Any] = SEVEN_RULES  # the example, as the demo shows it
HASH_KEY = "bench-hash-key-0123456789abcdef"  # TRANSFORM_HASH_KEY: at least 16 characters
# What the forwarder reads for this case, beside the sink's credentials (harness.SinkProcess.env).
ENV = {"TRANSFORMS": json.dumps(RULES), "TRANSFORM_HASH_KEY": HASH_KEY}
_DEBUG = ("debug render", "debug cache miss", "debug ws reconnect", "debug flag eval")
# Shares of events: noise the rules filter out, and what the property rules act on.
HEARTBEAT, DEBUG, SIGNUP = 0.03, 0.02, 0.04
EMAIL, PHONE, PASSWORD, CARD = 0.45, 0.12, 0.03, 0.01  # EMAIL: of identified users' events


def _email(distinct_id: str) -> str:
    person = random.Random(distinct_id)  # the same address in every event of a user, as bench.updates writes it
    first, last, domain = person.choice(FIRST_NAMES), person.choice(LAST_NAMES), person.choice(EMAIL_DOMAINS)
    return f"{first.lower()}.{last.lower()}{person.randint(1, 99)}@{domain}"


def _phone(rng: random.Random) -> str:
    return (
        rng.choice(("+1 415 ", "+44 7700 ", "+49 151 ", "+81 90 "))
        + f"{rng.randint(100, 999)} {rng.randint(0, 9999):04d}"
    )


def make_events_for_rules(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`n` events: the headline's, with the names and properties the rules act on, at the shares above."""
    rng = random.Random(seed + 2)
    events = make_events(n, seed)
    for event in events:
        properties = event["properties"]
        draw = rng.random()
        if draw < HEARTBEAT:
            event["event"] = "Heartbeat"
        elif draw < HEARTBEAT + DEBUG:
            event["event"] = rng.choice(_DEBUG)
        elif draw < HEARTBEAT + DEBUG + SIGNUP:
            event["event"] = "signup"
        distinct_id = str(properties["distinct_id"])
        if not distinct_id.startswith("$device:") and rng.random() < EMAIL:
            properties["userEmail"] = _email(distinct_id)
        if rng.random() < PHONE:
            properties["phone"] = _phone(rng)
        if rng.random() < PASSWORD:
            properties["password"] = token(rng, 14)  # a form's fields sent whole: the rules are there for this
        if rng.random() < CARD:
            properties["card_number"] = f"4{rng.randint(0, 10**15 - 1):015d}"
    return events


def filtered(events: list[dict[str, Any]]) -> dict[str, int]:
    """The events the rules filter out, by rule (as the forwarder's summary counts them in `filtered_by`), read
    from the names this module gave them, not from the forwarder's code."""
    dropped = sum(e["event"] == "Heartbeat" or e["event"].startswith("debug ") for e in events)
    return {"drop_events": dropped} if dropped else {}


def rule_stats(events: list[dict[str, Any]]) -> dict[str, float]:
    """The share of events each rule acts on, for the report."""

    def share(test: Any) -> float:
        return sum(1 for e in events if test(e)) / len(events)

    return {
        "filtered out (Heartbeat, debug …)": sum(filtered(events).values()) / len(events),
        "renamed (signup)": share(lambda e: e["event"] == "signup"),
        "userEmail → $email, hashed": share(lambda e: "userEmail" in e["properties"]),
        "phone hashed": share(lambda e: "phone" in e["properties"]),
        "password or card_number dropped": share(
            lambda e: "password" in e["properties"] or "card_number" in e["properties"]
        ),
    }
