"""TRANSFORMS: every rule, the order they apply in, profile updates, what is filtered, and the configuration errors."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest

from localdev.demo_formats import SEVEN_RULES
from mixpanel_forwarder.errors import ConfigError
from mixpanel_forwarder.transform_rules import RULES, TransformRules, read_rules
from mixpanel_forwarder.transforms import DROPPED, EMPTIED, NOT_KEPT, Filtered, Transforms

KEY = "a-test-key-of-32-characters-long"
ISSUE_RULES = SEVEN_RULES  # the issue's example


def hashed(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hmac.new(KEY.encode(), data, hashlib.sha256).hexdigest()


def rules(**given: Any) -> TransformRules:
    read = read_rules(json.dumps(given))
    assert read is not None
    return read


def transforms(**given: Any) -> Transforms:
    return Transforms(rules(**given), KEY)


def event(transformed: dict[str, Any] | Filtered) -> dict[str, Any]:
    assert isinstance(transformed, dict), transformed
    return transformed


def test_the_issues_seven_rules_apply_in_order() -> None:
    rules_ = Transforms(rules(**ISSUE_RULES), KEY)
    properties = {"distinct_id": "u1", "userEmail": "Ann@Example.com", "phone": "+1 555", "password": "x", "n": 1}

    signup = event(rules_.event("signup", properties))

    assert signup == {
        "event": "Sign Up",
        "properties": {
            "distinct_id": "u1",
            "phone": hashed("+1 555"),
            "n": 1,
            "$email": hashed("Ann@Example.com"),  # renamed first, then hashed under its new name
            "pipeline": "kinesis-prod",
        },
    }
    assert rules_.event("Heartbeat", {}) is DROPPED
    assert rules_.event("debug cache miss", {}) is DROPPED
    assert rules_.event("Debug cache miss", {}) is not DROPPED  # names match exactly: case counts


def test_rules_make_new_dicts_and_leave_the_message_as_it_arrived() -> None:
    properties = {"userEmail": "a@b.c", "password": "x", "context": {"ip": "1.2.3.4", "os": "iOS"}}
    arrived = copy.deepcopy(properties)

    transforms(**{**ISSUE_RULES, "drop_properties": ["password", "context.ip"]}).event("e", properties)

    assert properties == arrived


def test_drop_and_keep_events_match_whole_names_or_by_wildcard() -> None:
    keep = transforms(keep_events=["Order *", "Sign Up"])
    assert keep.event("Order Completed", {}) != NOT_KEPT
    assert keep.event("Sign Up", {}) != NOT_KEPT
    assert keep.event("Sign Up Started", {}) is NOT_KEPT
    assert keep.event("Big Order Completed", {}) is NOT_KEPT  # a pattern matches the whole name
    drop = transforms(drop_events=["*.internal", "a*b"])
    assert drop.event("health.internal", {}) is DROPPED
    assert drop.event("a+b", {}) is DROPPED  # only * is special: + and . are themselves
    assert drop.event("ab", {}) is DROPPED
    assert drop.event("health.internal.v2", {}) != DROPPED


def test_drop_events_is_applied_before_keep_events_and_both_before_rename() -> None:
    both = transforms(drop_events=["Order Refunded"], keep_events=["Order *"], rename_events={"Order Paid": "Paid"})
    assert both.event("Order Refunded", {}) is DROPPED
    assert both.event("Page", {}) is NOT_KEPT
    assert event(both.event("Order Paid", {}))["event"] == "Paid"
    renamed_into_kept = transforms(keep_events=["Paid"], rename_events={"Order Paid": "Paid"})
    assert renamed_into_kept.event("Order Paid", {}) is NOT_KEPT  # keep_events sees the name as it arrived


def test_a_renamed_property_replaces_one_of_its_new_name() -> None:
    renamed = event(
        transforms(rename_properties={"userEmail": "$email"}).event("e", {"$email": "old", "userEmail": "new"})
    )
    assert renamed["properties"] == {"$email": "new"}


def test_a_dropped_name_is_the_name_as_it_arrived() -> None:
    # drop_properties comes before rename_properties: dropping the new name does not drop what is renamed to it
    both = transforms(drop_properties=["$email"], rename_properties={"userEmail": "$email"})
    assert event(both.event("e", {"$email": "x", "userEmail": "y"}))["properties"] == {"$email": "y"}


def test_dotted_names_reach_into_nested_objects_unless_a_top_level_property_has_that_name() -> None:
    rules_ = transforms(drop_properties=["device.id", "a.b"], hash_properties=["user.email", "missing.path"])
    properties = {
        "device": {"id": "d-1", "model": "x"},
        "a.b": "a top-level name with a dot",
        "a": {"b": "kept: the dotted name was the top-level property"},
        "user": {"email": "e@x.y", "name": "n"},
    }

    assert event(rules_.event("e", properties))["properties"] == {
        "device": {"model": "x"},
        "a": {"b": "kept: the dotted name was the top-level property"},
        "user": {"email": hashed("e@x.y"), "name": "n"},
    }


def test_hashing_is_keyed_hmac_of_the_text_or_json_and_lists_item_by_item() -> None:
    rules_ = transforms(hash_properties=["s", "n", "f", "b", "none", "list", "obj"])
    properties = {"s": "é", "n": 42, "f": 4.5, "b": True, "none": None, "list": ["a", 1], "obj": {"z": 1, "a": "é"}}

    out = event(rules_.event("e", properties))["properties"]

    assert out == {
        "s": hashed("é".encode()),
        "n": hashed("42"),
        "f": hashed("4.5"),
        "b": hashed("true"),
        "none": None,  # nothing to hide
        "list": [hashed("a"), hashed("1")],
        "obj": hashed('{"a":"é","z":1}'),  # keys sorted: the same object hashes the same
    }
    assert hashed("a") != hashlib.sha256(b"a").hexdigest()  # never a bare hash


def test_another_key_gives_another_hash() -> None:
    one = event(Transforms(rules(hash_properties=["$email"]), KEY).event("e", {"$email": "a@b.c"}))
    other = event(Transforms(rules(hash_properties=["$email"]), KEY + "2").event("e", {"$email": "a@b.c"}))
    assert one["properties"]["$email"] != other["properties"]["$email"]


def test_add_properties_sets_its_values_over_the_messages() -> None:
    added = event(transforms(add_properties={"pipeline": "prod", "n": 2}).event("e", {"pipeline": "theirs"}))
    assert added["properties"] == {"pipeline": "prod", "n": 2}


def test_profile_updates_take_the_property_rules_on_each_operation() -> None:
    rules_ = transforms(**ISSUE_RULES)
    update = {
        "$distinct_id": "u1",
        "$set": {"userEmail": "a@b.c", "password": "x", "plan": "pro"},
    }

    assert rules_.update(update) == {"$distinct_id": "u1", "$set": {"plan": "pro", "$email": hashed("a@b.c")}}
    assert rules_.update({"$distinct_id": "u1", "$union": {"phone": ["+1", "+2"]}}) == {
        "$distinct_id": "u1",
        "$union": {"phone": [hashed("+1"), hashed("+2")]},
    }


def test_profile_updates_keep_add_numbers_rename_unset_names_and_get_no_added_properties() -> None:
    rules_ = transforms(**{**ISSUE_RULES, "drop_events": ["*"]})
    assert rules_.update({"$distinct_id": "u1", "$add": {"phone": 1}}) == {"$distinct_id": "u1", "$add": {"phone": 1}}
    assert rules_.update({"$distinct_id": "u1", "$unset": ["userEmail", "plan"]}) == {
        "$distinct_id": "u1",
        "$unset": ["$email", "plan"],
    }
    group = {"$group_key": "company", "$group_id": "c1", "$set": {"seats": 3}}
    assert rules_.update(group) == group  # drop_events and add_properties are for events


def test_an_update_left_with_nothing_to_change_is_filtered() -> None:
    rules_ = transforms(drop_properties=["password"])
    assert rules_.update({"$distinct_id": "u1", "$set": {"password": "x"}}) is EMPTIED
    invalid_already = {"$distinct_id": "u1", "$set": {}}
    assert rules_.update(invalid_already) == invalid_already  # empty as it arrived: validation says why


def test_hashing_distinct_id_hashes_user_updates_distinct_id_and_a_hashed_group_key_the_group_id() -> None:
    rules_ = transforms(hash_properties=["distinct_id", "company_id"])
    assert event(rules_.event("e", {"distinct_id": "u1", "company_id": "c1"}))["properties"] == {
        "distinct_id": hashed("u1"),
        "company_id": hashed("c1"),
    }
    assert rules_.update({"$distinct_id": "u1", "$set": {"a": 1}})["$distinct_id"] == hashed("u1")  # type: ignore[index]
    group = rules_.update({"$group_key": "company_id", "$group_id": "c1", "$set": {"a": 1}})
    assert group["$group_id"] == hashed("c1")  # type: ignore[index]


def test_no_rules_is_none_and_every_rule_is_known() -> None:
    assert read_rules(None) is None
    assert read_rules("{}") is None
    assert read_rules(json.dumps({rule: [] if rule.endswith("s") else {} for rule in ("drop_events",)})) is None
    assert set(RULES) == set(ISSUE_RULES)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("not json", "is not valid JSON"),
        ("[]", "must be a JSON object of rules"),
        ('{"drop_event": []}', "'drop_event' is not a rule"),
        ('{"drop_events": "Heartbeat"}', "drop_events must be a list of non-empty strings"),
        ('{"keep_events": [""]}', "keep_events must be a list of non-empty strings"),
        ('{"hash_properties": [1]}', "hash_properties must be a list of non-empty strings"),
        ('{"rename_events": ["a"]}', "rename_events must be a JSON object"),
        ('{"rename_properties": {"a": 1}}', "rename_properties must map names to new non-empty names"),
        ('{"rename_events": {"a": " "}}', "rename_events must map names to new non-empty names"),
        ('{"add_properties": 3}', "add_properties must be a JSON object"),
    ],
)
def test_a_bad_setting_names_transforms_and_the_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=r"^TRANSFORMS: ") as raised:
        read_rules(text)
    assert named in str(raised.value)
    assert raised.value.variable == "TRANSFORMS"


def test_hashing_without_a_key_or_with_a_short_one_is_a_configuration_error() -> None:
    with pytest.raises(
        ConfigError, match=r'hash_properties needs a key: there is none.*"hash_key".*TRANSFORM_HASH_KEY'
    ):
        Transforms(rules(hash_properties=["$email"]), None)
    with pytest.raises(ConfigError, match="fewer than 16 characters") as raised:
        Transforms(rules(hash_properties=["$email"]), "short-key")
    assert "short-key" not in str(raised.value)  # never the key itself
    assert Transforms(rules(drop_properties=["x"]), None).event("e", {"x": 1}) == {"event": "e", "properties": {}}
