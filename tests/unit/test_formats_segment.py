"""Segment-spec messages (Segment, RudderStack) as Mixpanel messages: every call, field by field, and refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mixpanel_forwarder.formats import FormatOptions, read_messages, recognise
from mixpanel_forwarder.messages import FilteredOut, MessageRules, Refused, Routed, route_item
from mixpanel_forwarder.model import ID_MERGE_ORIGINAL, Item, Kind
from mixpanel_forwarder.normalize import derive_insert_id

NOW_MS = 1_796_020_000_000
TIMESTAMP = "2026-11-30T05:00:00.123Z"
TIMESTAMP_MS = 1_796_014_800_123
CONTEXT = {
    "ip": "203.0.113.9",
    "library": {"name": "analytics.js", "version": "next-1.70.0"},
    "page": {"url": "https://shop.example.com/cart", "referrer": "https://www.google.com/", "path": "/cart"},
    "os": {"name": "iOS", "version": "17.4"},
    "device": {"manufacturer": "Apple", "model": "iPhone15,2", "name": "Ann's phone", "type": "ios", "id": "dev-1"},
    "screen": {"width": 1179, "height": 2556, "density": 3},
    "network": {"carrier": "T-Mobile", "wifi": True, "bluetooth": False, "cellular": True},
    "app": {"name": "Shop", "version": "4.2.0", "build": "420", "namespace": "com.example.shop"},
    "campaign": {"name": "fall-sale", "source": "google", "medium": "cpc", "term": "shoes", "content": "ad-1"},
    "locale": "en-US",
    "timezone": "Europe/Paris",
    "location": {"country": "fr", "city": "Paris"},
    "groupId": "acme",
    "userAgent": "Mozilla/5.0",
}


def routed(message: dict[str, Any], **options: Any) -> list[Routed | Refused | FilteredOut]:
    id_merge = options.pop("id_merge", "simplified")
    rules = MessageRules(NOW_MS, "project-token", id_merge, "auto", None, FormatOptions(id_merge, **options))
    return route_item(Item(message, "sqs:m-1", NOW_MS - 5000), rules)


def sent(outcome: Routed | Refused | FilteredOut) -> tuple[Kind, dict[str, Any]]:
    assert isinstance(outcome, Routed), outcome
    return outcome.kind, json.loads(outcome.body)


def only_event(message: dict[str, Any], **options: Any) -> dict[str, Any]:
    [outcome] = routed(message, **options)
    kind, body = sent(outcome)
    assert kind is Kind.EVENT
    return body


def test_track_maps_ids_time_insert_id_context_and_properties() -> None:
    track = {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-42",
        "anonymousId": "anon-7",
        "messageId": "api-2vScujEMpSBuY0yLFHSLUz21jbu",
        "timestamp": TIMESTAMP,
        "properties": {"revenue": 42.5, "currency": "EUR", "$os": "mine wins", "distinct_id": "ignored", "time": 1},
        "context": CONTEXT,
    }

    assert only_event(track) == {
        "event": "Order Completed",
        "properties": {
            "ip": "203.0.113.9",
            "$locale": "en-US",
            "timezone": "Europe/Paris",
            "$group_id": "acme",
            "$app_name": "Shop",
            "$app_namespace": "com.example.shop",
            "$app_build_number": "420",
            "$app_version_string": "4.2.0",
            "$os": "mine wins",  # the call's own properties win over its context
            "$os_version": "17.4",
            "$manufacturer": "Apple",
            "$model": "iPhone15,2",
            "$device": "Ann's phone",
            "$device_type": "ios",
            "$carrier": "T-Mobile",
            "$wifi": True,
            "$bluetooth_enabled": False,
            "$cellular_enabled": True,
            "$screen_width": 1179,
            "$screen_height": 2556,
            "$screen_dpi": 3,
            "$current_url": "https://shop.example.com/cart",
            "$referrer": "https://www.google.com/",
            "mp_lib": "analytics.js",
            "$lib_version": "next-1.70.0",
            "utm_campaign": "fall-sale",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_term": "shoes",
            "utm_content": "ad-1",
            "mp_country_code": "FR",
            "$city": "Paris",  # Mixpanel's own place properties, over the address's place
            "revenue": 42.5,
            "currency": "EUR",
            "distinct_id": "user-42",  # the message's own ids and time, never the properties'
            "$user_id": "user-42",
            "$device_id": "anon-7",
            "time": TIMESTAMP_MS,
            "$insert_id": "api-2vScujEMpSBuY0yLFHSLUz21jbu",
        },
    }


def test_an_anonymous_track_is_about_its_anonymous_id() -> None:
    properties = only_event({"type": "track", "event": "e", "anonymousId": "anon-7", "timestamp": TIMESTAMP})[
        "properties"
    ]
    assert (properties["distinct_id"], properties["$device_id"], "$user_id" in properties) == (
        "anon-7",
        "anon-7",
        False,
    )


def test_a_message_id_mixpanel_would_refuse_is_replaced_by_one_derived_from_it() -> None:
    long_id = "ajs-next-1662363980287-168cf720-6227-4b56-a98e-c49bdc7279e9"
    track = {"type": "track", "event": "e", "userId": "u", "messageId": long_id, "timestamp": TIMESTAMP}

    first, again = only_event(track)["properties"]["$insert_id"], only_event(track)["properties"]["$insert_id"]

    assert first == again == derive_insert_id("message-id:" + long_id)  # never random: a redelivery dedups
    assert len(first) == 32
    underscored = only_event({**track, "messageId": "id_with_underscore"})["properties"]["$insert_id"]
    assert underscored != "id_with_underscore"
    without = only_event({**track, "messageId": None})["properties"]["$insert_id"]
    assert without == derive_insert_id("sqs:m-1")  # from where the message sits, like any event without one


def test_time_falls_back_through_segments_timestamps_then_the_source() -> None:
    base = {"type": "track", "event": "e", "userId": "u"}
    assert (
        only_event({**base, "originalTimestamp": TIMESTAMP, "sentAt": "2026-11-30T06:00:00Z"})["properties"]["time"]
        == TIMESTAMP_MS
    )
    assert only_event({**base, "receivedAt": TIMESTAMP})["properties"]["time"] == TIMESTAMP_MS
    assert only_event(base)["properties"]["time"] == NOW_MS - 5000  # the queue's own timestamp


def test_an_unparseable_timestamp_is_refused_naming_it() -> None:
    [outcome] = routed({"type": "track", "event": "e", "userId": "u", "timestamp": "yesterday", "sentAt": TIMESTAMP})
    assert isinstance(outcome, Refused)
    assert (outcome.kind, outcome.failure.field) == (Kind.EVENT, "timestamp")
    assert "ISO-8601" in outcome.failure.reason


@pytest.mark.parametrize(
    ("message", "field", "reason"),
    [
        ({"type": "track", "event": "e", "messageId": "m1"}, "userId", "needs userId or anonymousId"),
        ({"type": "identify", "messageId": "m1", "traits": {"a": 1}}, "userId", "needs userId or anonymousId"),
        ({"type": "track", "event": "e", "userId": {"id": 1}}, "userId", "must be a string"),
        ({"type": "track", "userId": "u", "timestamp": TIMESTAMP}, "event", "event name must be a non-empty string"),
        ({"type": "track", "event": "e", "userId": "u", "properties": [1]}, "properties", "must be an object"),
        ({"type": "group", "userId": "u", "traits": {"a": 1}}, "groupId", "needs groupId"),
        ({"type": "alias", "userId": "u"}, "previousId", "needs previousId (or anonymousId) and userId"),
        ({"type": "alias", "userId": "u", "previousId": "u"}, "previousId", "cannot be its own alias"),
    ],
)
def test_bad_segment_messages_are_refused_naming_the_field(message: dict[str, Any], field: str, reason: str) -> None:
    outcomes = routed(message, id_merge=ID_MERGE_ORIGINAL)
    assert all(isinstance(outcome, Refused) for outcome in outcomes)
    failure = outcomes[0].failure  # type: ignore[union-attr]
    assert failure.field == field
    assert reason in failure.reason


def test_page_and_screen_are_viewed_events_with_name_and_category() -> None:
    page = {"type": "page", "name": "Cart", "category": "Shop", "anonymousId": "a", "timestamp": TIMESTAMP}
    body = only_event(page)
    assert body["event"] == "Viewed Cart"
    assert (body["properties"]["name"], body["properties"]["category"]) == ("Cart", "Shop")
    assert only_event({**page, "type": "screen"})["event"] == "Viewed Cart"
    assert only_event({**page, "name": None})["event"] == "Loaded a Page"
    assert only_event({**page, "type": "screen", "name": " "})["event"] == "Loaded a Screen"


def test_identify_sets_the_traits_with_mixpanels_special_ones_renamed() -> None:
    identify = {
        "type": "identify",
        "userId": "user-42",
        "anonymousId": "anon-7",
        "messageId": "m-3",
        "context": {"ip": "203.0.113.9"},
        "traits": {
            "email": "ann@example.com",
            "firstName": "Ann",
            "lastName": "Lee",
            "username": "ann",
            "phone": "+33 1 23",
            "avatar": "https://example.com/a.png",
            "createdAt": "2024-01-02T03:04:05Z",
            "plan": "pro",
        },
    }

    [outcome] = routed(identify)

    assert sent(outcome) == (
        Kind.USER,
        {
            "$distinct_id": "user-42",
            "$set": {
                "plan": "pro",
                "$email": "ann@example.com",
                "$first_name": "Ann",
                "$last_name": "Lee",
                "$username": "ann",
                "$phone": "+33 1 23",
                "$avatar": "https://example.com/a.png",
                "$name": "Ann Lee",
                "$created": "2024-01-02T03:04:05Z",
            },
            "$ip": "203.0.113.9",
            "$time": (NOW_MS - 5000) / 1000,  # no time of its own: the queue's, in seconds
        },
    )


def test_identify_under_original_id_merge_also_links_the_anonymous_id() -> None:
    identify = {"type": "identify", "userId": "u-1", "anonymousId": "a-1", "messageId": "m-3", "timestamp": TIMESTAMP}

    [outcome] = routed({**identify, "traits": {"name": "Ann"}}, id_merge=ID_MERGE_ORIGINAL)[1:]
    assert sent(outcome) == (
        Kind.EVENT,
        {
            "event": "$identify",
            "properties": {
                "distinct_id": "u-1",
                "$identified_id": "u-1",
                "$anon_id": "a-1",
                "time": TIMESTAMP_MS,
                "$insert_id": "m-3",
                "ip": 0,
            },
        },
    )
    [nothing] = routed(identify)  # simplified ID merge links them by itself; no traits: nothing to set
    assert isinstance(nothing, FilteredOut)
    assert (nothing.kind, nothing.rule) == (Kind.USER, "identify without traits")


def test_identify_merges_context_traits_under_its_own_traits() -> None:
    # GIVEN a RudderStack identify: traits in context.traits, some given again (newer) in the call's own traits
    identify = {
        "type": "identify",
        "userId": "user-42",
        "context": {"traits": {"email": "old@example.com", "plan": "free", "firstName": "Ann"}},
        "traits": {"email": "ann@example.com", "seats": 5},
    }

    [outcome] = routed(identify)

    assert sent(outcome)[1]["$set"] == {"plan": "free", "seats": 5, "$email": "ann@example.com", "$first_name": "Ann"}


def test_identify_with_empty_traits_sets_the_context_traits() -> None:
    identify = {"type": "identify", "userId": "user-42", "traits": {}, "context": {"traits": {"plan": "pro"}}}

    [outcome] = routed(identify)

    assert sent(outcome) == (
        Kind.USER,
        {"$distinct_id": "user-42", "$set": {"plan": "pro"}, "$ip": "0", "$time": (NOW_MS - 5000) / 1000},
    )


def test_identify_context_traits_that_are_no_object_are_refused_naming_them() -> None:
    identify = {"type": "identify", "userId": "user-42", "traits": {"plan": "pro"}, "context": {"traits": "pro"}}

    [refused] = routed(identify)

    assert isinstance(refused, Refused)
    assert refused.failure.field == "context.traits"


def test_group_takes_no_trait_of_the_user_from_context_traits() -> None:
    # GIVEN a group call: its traits are the group's, its context.traits the user's ("traits of the current user")
    group = {"type": "group", "userId": "user-42", "groupId": "acme", "context": {"traits": {"email": "a@example.com"}}}

    [member] = routed(group)

    assert sent(member)[1]["$union"] == {"$group_id": ["acme"]}  # no group profile: the group has no traits


def test_group_sets_the_group_profile_and_the_users_membership() -> None:
    group = {
        "type": "group",
        "userId": "user-42",
        "groupId": "acme",
        "messageId": "m-4",
        "traits": {"name": "Acme", "employees": 300, "created_at": "2019-05-06"},
    }

    profile, member = routed(group)

    assert sent(profile) == (
        Kind.GROUP,
        {
            "$group_key": "$group_id",
            "$group_id": "acme",
            "$set": {"employees": 300, "$name": "Acme", "$created": "2019-05-06"},
            "$time": (NOW_MS - 5000) / 1000,
        },
    )
    assert sent(member) == (
        Kind.USER,
        {"$distinct_id": "user-42", "$union": {"$group_id": ["acme"]}, "$ip": "0", "$time": (NOW_MS - 5000) / 1000},
    )


def test_the_group_key_is_a_setting_and_a_trait_of_that_name_is_the_group_id() -> None:
    group = {"type": "group", "anonymousId": "a", "groupId": "acme", "traits": {"company_id": "c-9"}}
    profile, member = routed(group, segment_group_key="company_id")
    assert sent(profile)[1]["$group_key"] == "company_id"
    assert sent(profile)[1]["$group_id"] == "c-9"
    assert sent(member)[1]["$union"] == {"company_id": ["c-9"]}
    [only_member] = routed({**group, "traits": {}})  # no traits: only the membership
    assert sent(only_member)[0] is Kind.USER


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"groupId": "undefined"}, "groupId"),
        ({"groupId": 0}, "groupId"),
        ({"groupId": "  "}, "groupId"),
        ({"groupId": "acme", "traits": {"$group_id": "null", "name": "Acme"}}, "traits.$group_id"),
        ({"groupId": "acme", "traits": {"$group_id": ""}}, "traits.$group_id"),
        ({"groupId": "acme", "traits": {"$group_id": []}}, "traits.$group_id"),  # a list of none
        ({"groupId": "acme", "traits": {"$group_id": ["acme", "undefined"]}}, "traits.$group_id"),
    ],
)
def test_a_group_call_whose_group_id_is_a_placeholder_or_blank_is_refused_whole(
    given: dict[str, Any], field: str
) -> None:
    # The group profile would be refused for it, and the membership sent: every user in one group "undefined"
    [refused] = routed({"type": "group", "userId": "user-42", **given})

    assert isinstance(refused, Refused)
    assert (refused.kind, refused.failure.field) == (Kind.GROUP, field)


def test_alias_is_create_alias_under_original_and_refused_under_simplified() -> None:
    alias = {"type": "alias", "userId": "u-1", "previousId": "a-1", "messageId": "m-5", "timestamp": TIMESTAMP}

    properties = only_event(alias, id_merge=ID_MERGE_ORIGINAL)["properties"]
    assert (properties["distinct_id"], properties["alias"]) == ("a-1", "u-1")
    [refused] = routed(alias)
    assert isinstance(refused, Refused)
    assert "ignored by simplified ID merge" in refused.failure.reason


def test_recognition_order_and_what_stays_mixpanel() -> None:
    assert recognise({"type": "track", "event": "e", "userId": "u"}) == "segment"
    assert recognise({"type": "track", "event": "e"}) == "mixpanel"  # no Segment id: a flat Mixpanel event
    assert recognise({"type": "visit", "event": "e", "userId": "u"}) == "mixpanel"  # not one of Segment's calls
    assert recognise({"event": "e", "properties": {"type": "track", "userId": "u"}}) == "mixpanel"
    assert recognise({"$distinct_id": "u", "$set": {"type": "track", "userId": "u"}}) == "mixpanel"
    assert recognise({"type": "track", "messageId": "m", "event_type": "e", "user_id": "u"}) == "segment"
    assert recognise({"event_type": "e", "device_id": "d"}) == "amplitude"


@pytest.mark.parametrize("destination", ["Mixpanel", "Mixpanel (Actions)"])
@pytest.mark.parametrize(
    ("call", "kind"),
    [
        ("track", Kind.EVENT),
        ("page", Kind.EVENT),
        ("screen", Kind.EVENT),
        ("identify", Kind.USER),
        ("group", Kind.GROUP),
    ],
)
def test_a_call_whose_integrations_turn_mixpanel_off_is_filtered_by_that_reason(
    destination: str, call: str, kind: Kind
) -> None:
    message = {
        "type": call,
        "event": "Order Completed",
        "name": "Pricing",
        "userId": "user-42",
        "groupId": "acme",
        "traits": {"name": "Ann"},
        "messageId": "m-9",
        "timestamp": TIMESTAMP,
        "integrations": {"All": True, destination: False},
    }

    [outcome] = routed(message)

    assert isinstance(outcome, FilteredOut)
    assert (outcome.kind, outcome.rule) == (kind, "integrations turn Mixpanel off")


@pytest.mark.parametrize(
    "integrations",
    [
        {},
        {"All": False},  # it came here through a destination named for it: forwarded
        {"All": False, "Amazon Kinesis": True},
        {"Mixpanel": True},
        {"mixpanel": False},  # destination names are case-sensitive (Segment's and RudderStack's docs)
        {"Mixpanel": "false"},
        {"Mixpanel": None},
        {"Mixpanel": {"apiSecret": "x"}},  # per-destination options, not a switch
        ["Mixpanel"],
        None,
    ],
)
def test_integrations_that_do_not_turn_mixpanel_off_by_name_leave_the_call_as_it_is(integrations: Any) -> None:
    track = {"type": "track", "event": "Signed Up", "userId": "u-1", "messageId": "m-1", "timestamp": TIMESTAMP}

    assert only_event({**track, "integrations": integrations}) == only_event(track)


def test_a_list_of_group_ids_makes_a_group_update_each_and_one_membership_of_them_all() -> None:
    group = {"type": "group", "userId": "u-1", "traits": {"$group_id": ["acme", 42], "plan": "pro"}}

    first, second, member = routed(group)

    assert [sent(update)[1]["$group_id"] for update in (first, second)] == ["acme", 42]
    assert sent(member)[1]["$union"] == {"$group_id": ["acme", 42]}  # a list of ids, not a list in a list
    made = read_messages(Item(group, "sqs:m-1", NOW_MS), "auto", FormatOptions())
    assert [message.item.key for message in made] == ["sqs:m-1", "sqs:m-1/1", "sqs:m-1/member"]  # the first's kept


def test_the_contexts_empty_strings_are_no_values_and_the_user_agent_fills_what_the_context_leaves() -> None:
    context = {"os": {"name": "", "version": ""}, "page": {"referrer": "", "url": "u"}, "ip": "", "locale": ""}
    agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0"
    track = {"type": "track", "event": "e", "userId": "u", "request_ip": "198.51.100.1", "context": context}

    properties = only_event({**track, "context": {**context, "userAgent": agent}})["properties"]

    assert properties["$current_url"] == "u"
    assert properties["ip"] == "198.51.100.1"  # an empty context.ip is none: RudderStack's request_ip stands in
    assert {"$referrer", "$os_version", "$locale"}.isdisjoint(properties)
    assert (properties["$os"], properties["$browser"]) == ("Windows", "Chrome")
