"""What a message is (event, user or group update), and each update checked and written as /engage or /groups
takes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mixpanel_forwarder.errors import Invalid
from mixpanel_forwarder.model import Item, Kind
from mixpanel_forwarder.normalize import INVALID_IDS, normalize
from mixpanel_forwarder.profiles import (
    group_update,
    kind_of,
    operation_of,
    profile_key,
    token_bytes,
    token_field,
    user_update,
)

TOKEN = "project-token"


def user(**fields: Any) -> dict[str, Any]:
    return {"$distinct_id": "u1", **fields}


def group(**fields: Any) -> dict[str, Any]:
    return {"$group_key": "company_id", "$group_id": "42", **fields}


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ({"event": "Signed up", "properties": {}}, Kind.EVENT),
        ({"event": "Signed up", "distinct_id": "u1"}, Kind.EVENT),  # flat
        (user(**{"$set": {"plan": "pro"}}), Kind.USER),
        (group(**{"$set": {"seats": 300}}), Kind.GROUP),
        ({"$group_id": "42", "$set": {}}, Kind.GROUP),  # its missing $group_key is named by group_update
        ({"properties": {}}, Kind.EVENT),  # normalize names the missing event name
        ("text", Kind.EVENT),
    ],
)
def test_each_message_is_recognised_by_its_shape(message: Any, kind: Kind) -> None:
    assert kind_of(message) is kind


@pytest.mark.parametrize(
    ("message", "field", "words"),
    [
        ({"event": "A", "$distinct_id": "u1", "$set": {}}, "message", "has event and $distinct_id"),
        (user(**{"$group_key": "k", "$group_id": 1}), "message", "$distinct_id and $group_key/$group_id"),
        ({"$set": {"plan": "pro"}}, "$distinct_id", "needs $distinct_id"),
    ],
)
def test_a_message_of_several_kinds_or_none_says_what_was_found(message: Any, field: str, words: str) -> None:
    with pytest.raises(Invalid) as raised:
        kind_of(message)
    assert raised.value.field == field
    assert words in raised.value.message


@pytest.mark.parametrize(
    "operation",
    [
        {"$set": {"plan": "pro"}},
        {"$set_once": {"first_seen": "2025-11-24"}},
        {"$add": {"logins": 1, "credit": -2.5}},
        {"$union": {"tags": ["a", "b"]}},
        {"$append": {"history": "x"}},
        {"$remove": {"tags": "a"}},
        {"$unset": ["plan"]},
        {"$delete": ""},
        {"$delete": None},
    ],
)
def test_every_user_operation_is_routed_without_geolocation_and_its_token_left_to_the_sending(
    operation: dict[str, Any],
) -> None:
    update = user_update(user(**operation), TOKEN, INVALID_IDS)
    assert update == {"$distinct_id": "u1", **operation, "$ip": "0"}


def test_an_update_keeps_its_own_ip_and_never_the_producers_token() -> None:
    update = user_update(user(**{"$set": {"a": 1}, "$ip": "203.0.113.7", "$token": "old"}), TOKEN, INVALID_IDS)
    # The configured token is written in when the update is sent.
    assert update == {"$distinct_id": "u1", "$set": {"a": 1}, "$ip": "203.0.113.7"}


def test_a_group_update_carries_no_ip() -> None:
    update = group_update(group(**{"$set": {"seats": 300}}), TOKEN, INVALID_IDS)
    assert update == {"$group_key": "company_id", "$group_id": "42", "$set": {"seats": 300}}


@pytest.mark.parametrize("token", [TOKEN, 'a "quoted" tøken\\'], ids=["plain", "escaped"])
def test_the_token_field_opens_an_update_and_counts_its_bytes(token: str) -> None:
    body = json.dumps({"$distinct_id": "u1", "$set": {"a": 1}}).encode()
    sent = token_field(token) + body[1:]
    assert json.loads(sent) == {"$token": token, "$distinct_id": "u1", "$set": {"a": 1}}
    assert len(sent) == len(body) + token_bytes(token)


@pytest.mark.parametrize(
    ("message", "field", "words"),
    [
        (user(), "operation", "needs one operation of $set"),
        (user(**{"$set": {"a": 1}, "$unset": ["b"]}), "operation", "has $set and $unset: one operation per update"),
        (user(**{"$sett": {"a": 1}}), "$sett", "is not an operation or field of a user profile update"),
        (user(**{"plan": "pro", "$set": {"a": 1}}), "plan", "is not an operation or field"),
        (user(**{"$add": {"logins": "1"}}), "$add.logins", "must be a number"),
        (user(**{"$add": {"logins": True}}), "$add.logins", "must be a number"),
        (user(**{"$union": {"tags": "a"}}), "$union.tags", "must be a non-empty list"),
        (user(**{"$union": {"tags": [{"a": 1}]}}), "$union.tags", "must list strings or numbers"),
        (user(**{"$unset": "plan"}), "$unset", "non-empty list of property names"),
        (user(**{"$unset": []}), "$unset", "non-empty list of property names"),
        (user(**{"$set": ["a"]}), "$set", "non-empty object"),
        (user(**{"$set": {}}), "$set", "non-empty object"),
        ({"$distinct_id": "null", "$set": {"a": 1}}, "$distinct_id", "'null' is a placeholder"),
        ({"$distinct_id": "Undefined", "$set": {"a": 1}}, "$distinct_id", "placeholder"),
        ({"$distinct_id": -1, "$set": {"a": 1}}, "$distinct_id", "placeholder"),
        ({"$distinct_id": " ", "$set": {"a": 1}}, "$distinct_id", "must not be empty"),
        ({"$distinct_id": None, "$set": {"a": 1}}, "$distinct_id", "must be a string or a number"),
        ({"$distinct_id": True, "$set": {"a": 1}}, "$distinct_id", "must be a string or a number"),
    ],
)
def test_a_bad_user_update_is_refused_naming_the_field_and_the_rule(message: Any, field: str, words: str) -> None:
    with pytest.raises(Invalid) as raised:
        user_update(message, TOKEN, INVALID_IDS)
    assert raised.value.field == field
    assert words in raised.value.message


@pytest.mark.parametrize(
    ("message", "field", "words"),
    [
        ({"$group_id": "42", "$set": {"a": 1}}, "$group_key", "non-empty string"),
        (group(**{"$add": {"seats": 1}}), "$add", "not supported for group profiles"),
        (group(**{"$append": {"x": 1}}), "$append", "not supported for group profiles"),
        (group(**{"$set": {"a": 1}, "$ip": "0"}), "$ip", "is not an operation or field of a group profile update"),
        ({"$group_key": "k", "$group_id": "none", "$set": {"a": 1}}, "$group_id", "placeholder"),
    ],
)
def test_a_bad_group_update_is_refused_naming_the_field_and_the_rule(message: Any, field: str, words: str) -> None:
    with pytest.raises(Invalid) as raised:
        group_update(message, TOKEN, INVALID_IDS)
    assert raised.value.field == field
    assert words in raised.value.message


def test_without_a_token_profile_updates_are_refused_naming_the_setting() -> None:
    with pytest.raises(Invalid) as raised:
        user_update(user(**{"$set": {"a": 1}}), None, INVALID_IDS)
    assert raised.value.field == "$token"
    assert "MIXPANEL_PROJECT_TOKEN" in raised.value.message


def test_a_refused_update_is_left_as_it_arrived() -> None:
    message = user(**{"$set": {"a": 1}})
    user_update(message, TOKEN, INVALID_IDS)
    assert message == {"$distinct_id": "u1", "$set": {"a": 1}}


def test_profile_keys_and_operations() -> None:
    assert profile_key(Kind.USER, user(**{"$set": {"a": 1}})) == "user:u1"
    assert profile_key(Kind.GROUP, group(**{"$unset": ["a"]})) == "group:company_id:42"
    assert operation_of(user(**{"$append": {"a": 1}})) == "$append"


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, "$set.a.b.c.d", "nests deeper than 3 levels"),
        ({"tags": list(range(255))}, "$set.tags", "has 255 items"),
    ],
)
def test_update_values_keep_mixpanels_property_limits(value: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(Invalid) as raised:
        user_update(user(**{"$set": value}), TOKEN, INVALID_IDS)
    assert raised.value.field == field
    assert words in raised.value.message


def test_an_update_with_a_number_orjson_may_have_rounded_is_read_again_and_sent_exactly() -> None:
    from mixpanel_forwarder import codec
    from mixpanel_forwarder.errors import Inexact

    text = '{"$distinct_id": "u1", "$set": {"account": 123456789012345678901234}}'
    with pytest.raises(Inexact):
        user_update(codec.loads(text), TOKEN, INVALID_IDS)
    with pytest.raises(Invalid) as raised:  # exactly: beyond 64 bits, which the encoder cannot write
        user_update(codec.loads_exact(text), TOKEN, INVALID_IDS, exact=True)
    assert raised.value.field == "$set.account"


BIG = 123456789012345678901234  # beyond 64 bits: orjson reads it as a rounded float
WIDE = 12345678901234567891  # between 2**53 and 2**64: exact in JSON, rounded in a double


@pytest.mark.parametrize(("number", "sent"), [(BIG, str(BIG)), (WIDE, str(WIDE)), (-(2**53) - 1, str(-(2**53) - 1))])
def test_an_integer_profile_id_a_double_cannot_hold_is_sent_as_its_digits_as_events_distinct_id(
    number: int, sent: str
) -> None:
    from mixpanel_forwarder import codec
    from mixpanel_forwarder.errors import Inexact

    user_text = json.dumps({"$distinct_id": number, "$set": {"a": 1}})
    group_text = json.dumps({"$group_key": "company_id", "$group_id": number, "$set": {"a": 1}})

    if number == BIG:  # read rounded: never sent so, read again exactly
        with pytest.raises(Inexact):
            user_update(codec.loads(user_text), TOKEN, INVALID_IDS)
        with pytest.raises(Inexact):
            group_update(codec.loads(group_text), TOKEN, INVALID_IDS)
    arrived = codec.loads_exact(user_text)
    assert user_update(arrived, TOKEN, INVALID_IDS, exact=True)["$distinct_id"] == sent
    assert arrived["$distinct_id"] == number  # the message stays as it arrived, for parking
    assert group_update(codec.loads_exact(group_text), TOKEN, INVALID_IDS, exact=True)["$group_id"] == sent
    event = {"event": "e", "properties": {"distinct_id": number, "time": 1_764_000_000}}
    sent_event = normalize(Item(codec.loads_exact(json.dumps(event)), "k", None), 1_764_000_100_000, exact=True)
    assert sent_event["properties"]["distinct_id"] == sent  # the same JSON value on /import


@pytest.mark.parametrize("number", [2**53, -(2**53), 42])
def test_an_integer_profile_id_a_double_holds_stays_a_number_as_events_distinct_id(number: int) -> None:
    assert user_update({"$distinct_id": number, "$set": {"a": 1}}, TOKEN, INVALID_IDS)["$distinct_id"] == number
    group = {"$group_key": "k", "$group_id": number, "$set": {"a": 1}}
    assert group_update(group, TOKEN, INVALID_IDS)["$group_id"] == number
