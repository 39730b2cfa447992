"""The benchmark's data: seeded, varied events, every one importable by ours and by the naive loop; and the mixed
invocation's profile updates, every one valid, in the stated mix."""

from __future__ import annotations

import collections
import copy
import time

import orjson
import pytest

from bench import data, events, updates, vocabulary
from bench.naive import ready
from localdev.sink.imports import dedup_key
from localdev.sink.profiles import ENGAGE, GROUPS, check
from mixpanel_forwarder.model import Item, Kind
from mixpanel_forwarder.normalize import INVALID_IDS, normalize
from mixpanel_forwarder.profiles import group_update, kind_of, operation_of, user_update

EVENTS = events.make_events(2000)


def test_the_same_seed_gives_the_same_events_and_a_longer_list_starts_with_a_shorter_one() -> None:
    assert events.make_events(300) == EVENTS[:300]
    assert events.make_events(2000) == EVENTS
    assert events.make_events(300, seed=vocabulary.SEED + 1) != EVENTS[:300]


def test_every_event_is_valid_for_ours_and_for_naive_once_made_ready() -> None:
    now_ms = int(time.time() * 1000)
    for index, event in enumerate(EVENTS):
        sent = normalize(Item(orjson.loads(orjson.dumps(event)), f"record-{index}", None), now_ms)
        dedup_key(sent, now_ms / 1000)  # the sink's strict-mode checks: raises on an event Mixpanel refuses
        dedup_key(ready(copy.deepcopy(event), "record", index), now_ms / 1000)


@pytest.mark.parametrize(
    ("shape", "low", "high"),
    [
        ("null value", 0.1, 0.3),
        ("list of numbers", 0.08, 0.25),
        ("list of objects", 0.15, 0.35),
        ("nested object", 0.25, 0.5),
        ("nesting depth 3", 0.02, 0.1),
        ("no $insert_id", 0.05, 0.15),
    ],
)
def test_each_shape_appears_at_a_realistic_rate(shape: str, low: float, high: float) -> None:
    assert low <= data.data_stats(EVENTS).mix[shape] <= high


def test_times_come_in_every_format_and_size_and_property_count_stay_near_the_old_data() -> None:
    stats = data.data_stats(EVENTS)
    assert all(share >= 0.02 for share in stats.time_formats.values()), stats.time_formats
    assert sum(stats.time_formats.values()) == pytest.approx(1.0)
    assert 500 <= stats.mean_event_bytes <= 600
    assert 14 <= stats.mean_properties <= 16


MESSAGES = updates.make_messages(2000, updates.MIX)
UPDATES = [m for m in MESSAGES if updates.message_kind(m) != "event"]


def test_the_mixed_messages_are_seeded_and_their_events_are_the_events_only_invocations() -> None:
    assert updates.make_messages(2000, updates.MIX) == MESSAGES
    assert updates.make_messages(2000, updates.MIX, seed=vocabulary.SEED + 1) != MESSAGES
    assert [m for m in MESSAGES if updates.message_kind(m) == "event"] == EVENTS[:1400]


def test_the_mix_is_70_20_10_interleaved_at_random() -> None:
    kinds = [updates.message_kind(m) for m in MESSAGES]
    assert collections.Counter(kinds) == {"event": 1400, "user": 400, "group": 200}
    for quarter in range(4):  # spread through the invocation, not in runs of one kind
        shares = collections.Counter(kinds[quarter * 500 : (quarter + 1) * 500])
        assert 300 <= shares["event"] <= 400
        assert 60 <= shares["user"] <= 140
        assert 25 <= shares["group"] <= 75
    assert updates.kind_counts(200, updates.MIX) == {"event": 140, "user": 40, "group": 20}
    assert updates.kind_counts(2000, {"user": 1.0}) == {"event": 0, "user": 2000, "group": 0}


@pytest.mark.parametrize("shares", [updates.MIX, {"user": 1.0}, {"group": 1.0}])
def test_every_update_passes_the_forwarders_validation_and_the_sinks_rules(shares: dict[str, float]) -> None:
    profile_updates = UPDATES if shares is updates.MIX else updates.make_messages(2000, shares)
    for message in profile_updates:
        user = updates.message_kind(message) == "user"
        assert kind_of(message) is (Kind.USER if user else Kind.GROUP)
        update = (user_update if user else group_update)(message, "token", INVALID_IDS)  # raises Invalid if not
        check(ENGAGE if user else GROUPS, {"$token": "token", **update})  # as sent; Refused where Mixpanel refuses


def test_updates_vary_in_operation_value_type_and_profile() -> None:
    users = [m for m in UPDATES if updates.message_kind(m) == "user"]
    groups = [m for m in UPDATES if updates.message_kind(m) == "group"]
    assert {operation_of(m) for m in users} == {"$set", "$set_once", "$union", "$unset", "$add"}
    assert {operation_of(m) for m in groups} == {"$set", "$set_once", "$union"}
    set_values = [v for m in UPDATES for v in m.get("$set", {}).values()]
    assert {type(v) for v in set_values} == {str, int, float, bool, list, dict, type(None)}
    assert len({m["$distinct_id"] for m in users}) >= 100
    assert not any(str(m["$distinct_id"]).startswith("$device:") for m in users)  # identified users only
    assert {m["$group_key"] for m in groups} == {"company_id", "account_id", "team_id"}
    assert {type(m["$group_id"]) for m in groups} == {str, int}
    assert any("$ignore_time" in m for m in users)
    assert any("$ip" in m for m in users)


def test_the_mixed_invocation_holds_one_message_per_sqs_body_in_the_stated_mix() -> None:
    shape = data.build_shapes(200, names=(data.MIXED,))[0]
    bodies = [orjson.loads(record["body"]) for record in shape.event()["Records"]]
    kinds = collections.Counter(updates.message_kind(body) for body in bodies)
    assert (shape.records, shape.events, shape.users, shape.groups, shape.messages) == (200, 140, 40, 20, 200)
    assert kinds == {"event": 140, "user": 40, "group": 20}
