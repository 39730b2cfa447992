"""Amplitude's export JSON as Mixpanel messages, field by field; and what an explicit PAYLOAD_FORMAT refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mixpanel_forwarder.errors import Invalid
from mixpanel_forwarder.formats import FormatOptions
from mixpanel_forwarder.messages import FilteredOut, MessageRules, Refused, Routed, route_item
from mixpanel_forwarder.model import Item, Kind
from mixpanel_forwarder.normalize import derive_insert_id

NOW_MS = 1_796_020_000_000
EVENT_TIME = "2026-11-30 05:00:00.123456"
EVENT_TIME_MS = 1_796_014_800_123
ENVELOPE_S = (NOW_MS - 5000) / 1000  # the record's arrival: the time of an update whose record has none
PLAY = {
    "event_type": "Song Played",
    "user_id": "user-42",
    "device_id": "C8F9E604-F01A-4BD9-95C6-8E5357DF265D",
    "event_time": EVENT_TIME,
    "client_event_time": "2026-11-30 04:59:59.000000",
    "$insert_id": "5f0adeff-6668-4427-8d02-57d803a2b841",
    "uuid": "bf0b9b2a-304d-11e6-934f-22000b56058f",
    "event_properties": {"song": "Blue", "duration_s": 241},
    "user_properties": {"plan": "pro", "age": 31},
    "groups": {"company": "acme"},
    "ip_address": "203.0.113.9",
    "os_name": "ios",
    "os_version": "17.4",
    "device_model": "iPhone15,2",
    "device_manufacturer": "Apple",
    "device_brand": "Apple",
    "device_carrier": "Orange",
    "version_name": "4.2.0",
    "library": "amplitude-swift/1.4.0",
    "platform": "iOS",
    "language": "French",
    "session_id": 1796014790000,
    "country": "France",
    "city": "Paris",
    "region": "Ile-de-France",
    "amplitude_id": 123456789,
}


def routed(message: dict[str, Any], payload_format: str = "auto", **options: Any) -> list[Any]:
    rules = MessageRules(NOW_MS, "project-token", "simplified", payload_format, None, FormatOptions(**options))
    return route_item(Item(message, "kinesis:1:0", NOW_MS - 5000), rules)


def sent(outcome: Routed | Refused | FilteredOut) -> tuple[Kind, dict[str, Any]]:
    assert isinstance(outcome, Routed), outcome
    return outcome.kind, json.loads(outcome.body)


def test_an_event_maps_its_name_ids_time_insert_id_device_and_properties() -> None:
    [outcome] = routed(PLAY)

    assert sent(outcome) == (
        Kind.EVENT,
        {
            "event": "Song Played",
            "properties": {
                "$os": "ios",
                "$os_version": "17.4",
                "$model": "iPhone15,2",
                "$manufacturer": "Apple",
                "$brand": "Apple",
                "$carrier": "Orange",
                "mp_lib": "amplitude-swift/1.4.0",
                "platform": "iOS",
                "language": "French",
                "session_id": 1796014790000,
                "amplitude_id": 123456789,
                "$app_version_string": "4.2.0",
                "ip": "203.0.113.9",  # the place is Mixpanel's to find from it: no city or region
                "company": "acme",  # the group's key and id: the event joins the group
                "song": "Blue",
                "duration_s": 241,
                "distinct_id": "user-42",
                "$user_id": "user-42",
                "$device_id": "C8F9E604-F01A-4BD9-95C6-8E5357DF265D",
                "time": EVENT_TIME_MS,
                "$insert_id": "5f0adeff-6668-4427-8d02-57d803a2b841",
            },
        },
    )


def test_without_an_ip_the_place_given_by_name_is_kept_and_a_country_name_is_not_a_code() -> None:
    message = {key: value for key, value in PLAY.items() if key != "ip_address"}
    properties = sent(routed({**message, "location_lat": 48.85, "location_lng": 2.35})[0])[1]["properties"]
    assert (properties["$city"], properties["$region"]) == ("Paris", "Ile-de-France")
    assert (properties["$latitude"], properties["$longitude"]) == (48.85, 2.35)
    assert "mp_country_code" not in properties  # "France" is a name; Mixpanel stores two-letter codes
    assert properties["ip"] == 0
    assert sent(routed({**message, "country": "fr"})[0])[1]["properties"]["mp_country_code"] == "FR"


def test_insert_id_is_amplitudes_else_its_uuid_else_derived_and_time_falls_back() -> None:
    without = {key: value for key, value in PLAY.items() if key not in ("$insert_id", "event_time")}
    properties = sent(routed(without)[0])[1]["properties"]
    assert properties["$insert_id"] == "bf0b9b2a-304d-11e6-934f-22000b56058f"
    assert properties["time"] == 1_796_014_799_000  # client_event_time
    neither = sent(routed({**without, "uuid": None, "client_event_time": None})[0])[1]["properties"]
    assert neither["$insert_id"] == derive_insert_id("kinesis:1:0")
    assert neither["time"] == NOW_MS - 5000
    long_id = sent(routed({**PLAY, "$insert_id": "x" * 40})[0])[1]["properties"]["$insert_id"]
    assert long_id == derive_insert_id("message-id:" + "x" * 40)


def test_event_time_may_take_a_t_a_zone_or_fewer_digits() -> None:
    for written in ("2026-11-30T05:00:00.123", "2026-11-30 05:00:00.123Z", "2026-11-30 06:00:00.123+01:00"):
        assert sent(routed({**PLAY, "event_time": written})[0])[1]["properties"]["time"] == EVENT_TIME_MS


EXPORT_FIELDS = {  # as Amplitude's S3 export documents them, with its examples
    "device_family": "Apple iPhone",
    "device_type": "Apple iPhone 5s",
    "dma": "San Francisco-Oakland-San Jose, CA",
    "paying": True,
    "start_version": "1.0.0",
    "user_creation_time": "2026-03-14 09:26:53.417000",
}
BOOKKEEPING = {  # Amplitude's own running of the pipeline, and advertising ids
    "event_id": 1,
    "app": 123456,
    "client_upload_time": "2026-11-30 05:00:01.000000",
    "server_received_time": "2026-11-30 05:00:01.100000",
    "server_upload_time": "2026-11-30 05:00:01.110000",
    "processed_time": "2026-11-30 05:00:02.000000",
    "sample_rate": None,
    "data": {"first_event": True},
    "amplitude_attribution_ids": ["a1"],
    "is_attribution_event": False,
    "amplitude_event_type": None,
    "$schema": 12,
    "group_properties": {"company": {"plan": "x"}},
    "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
    "adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
}


def test_export_fields_mixpanel_import_keeps_are_sent_under_its_names_or_mixpanels() -> None:
    # Rule: device_family is Mixpanel's $device; the others have no Mixpanel name and keep Amplitude's, as the reference
    properties = sent(routed({**PLAY, **EXPORT_FIELDS})[0])[1]["properties"]

    assert properties["$device"] == "Apple iPhone"
    assert {name: properties[name] for name in ("device_type", "dma", "paying", "start_version")} == {
        "device_type": "Apple iPhone 5s",
        "dma": "San Francisco-Oakland-San Jose, CA",  # with an IP too: Mixpanel finds no marketing area from one
        "paying": True,
        "start_version": "1.0.0",
    }
    assert properties["user_creation_time"] == "2026-03-14T09:26:53"  # Mixpanel's date type: ISO, UTC, seconds


@pytest.mark.parametrize("written", ["2026-03-14T10:26:53+01:00", "2026-03-14 09:26:53Z"])
def test_user_creation_time_with_a_zone_is_given_in_utc(written: str) -> None:
    properties = sent(routed({**PLAY, "user_creation_time": written})[0])[1]["properties"]
    assert properties["user_creation_time"] == "2026-03-14T09:26:53"


@pytest.mark.parametrize("written", ["last March", 1773480413000, True])
def test_user_creation_time_that_is_no_amplitude_time_is_sent_as_it_is(written: Any) -> None:
    # A property, not the event's time: nothing is refused over it
    properties = sent(routed({**PLAY, "user_creation_time": written})[0])[1]["properties"]
    assert properties["user_creation_time"] == written


def test_amplitudes_bookkeeping_and_advertising_ids_are_not_sent() -> None:
    properties = sent(routed({**PLAY, **BOOKKEEPING})[0])[1]["properties"]

    assert set(properties) == set(sent(routed(PLAY)[0])[1]["properties"])


def test_a_gps_position_places_the_event_even_with_an_ip() -> None:
    # Rule: Mixpanel places an event by $latitude and $longitude "instead of the IP address"
    properties = sent(routed({**PLAY, "location_lat": 48.85, "location_lng": 2.35})[0])[1]["properties"]

    assert (properties["ip"], properties["$latitude"], properties["$longitude"]) == ("203.0.113.9", 48.85, 2.35)
    assert "$city" not in properties


def test_empty_strings_are_no_value_and_are_not_sent() -> None:
    # Rule: "" would show in Mixpanel as a value of its own; absent, the property is "not set", as without the field
    fields = ("os_name", "device_carrier", "version_name", "device_family", "dma", "city", "ip_address")
    message = {**PLAY, **dict.fromkeys(fields, "")}

    [event, update] = [sent(outcome)[1] for outcome in routed(message, amplitude_user_properties=True)]

    for name in ("$os", "$carrier", "$app_version_string", "$device", "dma", "$city"):
        assert name not in event["properties"]
    # no IP: placed by the names given, not where the function runs
    assert (event["properties"]["ip"], event["properties"]["$region"], update["$ip"]) == (0, "Ile-de-France", "0")


def test_the_group_id_wins_over_an_event_property_of_the_group_keys_name() -> None:
    # Rule: as the reference; it is what joins the event to its group
    properties = sent(routed({**PLAY, "event_properties": {"company": "Acme Inc."}})[0])[1]["properties"]
    assert properties["company"] == "acme"


def test_event_properties_still_win_over_the_fields_mapped_from_the_record() -> None:
    properties = sent(routed({**PLAY, "event_properties": {"$os": "iPadOS"}})[0])[1]["properties"]
    assert properties["$os"] == "iPadOS"


def test_user_properties_become_a_profile_set_only_when_asked() -> None:
    [_event, update] = routed(PLAY, amplitude_user_properties=True)
    assert sent(update) == (
        Kind.USER,
        {
            "$distinct_id": "user-42",
            "$time": EVENT_TIME_MS / 1000,  # when it happened, in seconds
            "$set": {"plan": "pro", "age": 31},
            "$ip": "203.0.113.9",
        },
    )
    assert len(routed(PLAY)) == 1


def test_identify_records_are_profile_updates_one_per_operation() -> None:
    identify = {
        "event_type": "$identify",
        "device_id": "d-1",
        "user_properties": {
            "$set": {"plan": "pro"},
            "$setOnce": {"first_seen": "2026-01-01"},
            "$unset": {"trial": "-"},
        },
    }
    user = {"$distinct_id": "d-1", "$ip": "0", "$time": ENVELOPE_S}  # no time in the record: its arrival
    assert [sent(outcome) for outcome in routed(identify)] == [
        (Kind.USER, {**user, "$set": {"plan": "pro"}}),
        (Kind.USER, {**user, "$set_once": {"first_seen": "2026-01-01"}}),
        (Kind.USER, {**user, "$unset": ["trial"]}),
    ]
    [flat] = routed({**identify, "user_properties": {"plan": "pro"}})
    assert sent(flat)[1]["$set"] == {"plan": "pro"}
    [nothing] = routed({**identify, "user_properties": None})
    assert isinstance(nothing, FilteredOut)
    [unknown] = routed({**identify, "user_properties": {"$prepend": {"tags": "a"}}})
    assert isinstance(unknown, Refused)
    assert unknown.failure.field == "user_properties.$prepend"


def test_identify_updates_carry_the_records_time_in_seconds() -> None:
    # Rule: Mixpanel applies profile updates "in $time order"; without it, at "the time the update arrives"
    identify = {
        "event_type": "$identify",
        "user_id": "u-1",
        "event_time": EVENT_TIME,
        "user_properties": {"$set": {"plan": "pro"}, "$add": {"logins": 1}},
    }

    updates = [sent(outcome)[1] for outcome in routed(identify)]

    assert [update["$time"] for update in updates] == [EVENT_TIME_MS / 1000] * 2
    without = {key: value for key, value in identify.items() if key != "event_time"}
    client_time = [sent(o)[1]["$time"] for o in routed({**without, "client_event_time": "2026-11-30 04:59:59"})]
    assert client_time == [1_796_014_799.0] * 2  # the event's fallbacks are the update's too


def test_an_identify_whose_time_is_no_time_is_refused_naming_the_field() -> None:
    identify = {"event_type": "$identify", "user_id": "u-1", "event_time": "30/11/2026", "user_properties": {"a": 1}}

    [refused] = routed(identify)

    assert isinstance(refused, Refused)
    assert (refused.kind, refused.failure.field) == (Kind.USER, "event_time")


def test_group_identify_updates_carry_the_records_time_too() -> None:
    # /groups documents no $time; Mixpanel's own SDK sends one with every group update (mixpanel-python)
    record = {
        "event_type": "$groupidentify",
        "user_id": "u",
        "event_time": EVENT_TIME,
        "groups": {"company": "acme"},
        "group_properties": {"seats": 300},
    }
    assert [sent(outcome)[1] for outcome in routed(record)] == [
        {"$group_key": "company", "$group_id": "acme", "$set": {"seats": 300}, "$time": EVENT_TIME_MS / 1000}
    ]


def test_flat_user_properties_beside_operations_join_their_set_which_wins_on_a_name_in_both() -> None:
    # GIVEN flat keys beside operations, which Amplitude's identify API says belong "inside the $set operation"
    identify = {
        "event_type": "$identify",
        "user_id": "u-1",
        "user_properties": {"$set": {"plan": "team"}, "plan": "pro", "seats": 5, "$add": {"logins": 1}},
    }

    updates = [sent(outcome)[1] for outcome in routed(identify)]

    # THEN every flat key is set, the explicit $set's value winning for a name in both; the other operation is kept
    user = {"$distinct_id": "u-1", "$ip": "0", "$time": ENVELOPE_S}
    assert updates == [{**user, "$set": {"plan": "team", "seats": 5}}, {**user, "$add": {"logins": 1}}]


def test_flat_user_properties_beside_operations_without_a_set_are_a_set_first() -> None:
    identify = {"event_type": "$identify", "user_id": "u-1", "user_properties": {"$unset": ["trial"], "plan": "pro"}}

    user = {"$distinct_id": "u-1", "$ip": "0", "$time": ENVELOPE_S}
    assert [sent(outcome)[1] for outcome in routed(identify)] == [
        {**user, "$set": {"plan": "pro"}},
        {**user, "$unset": ["trial"]},
    ]


def test_flat_group_properties_beside_operations_are_kept_too() -> None:
    record = {
        "event_type": "$groupidentify",
        "user_id": "u",
        "groups": {"company": "acme"},
        "group_properties": {"$setOnce": {"founded": 1999}, "seats": 300},
    }

    group = {"$group_key": "company", "$group_id": "acme", "$time": ENVELOPE_S}
    assert [sent(outcome)[1] for outcome in routed(record)] == [
        {**group, "$set": {"seats": 300}},
        {**group, "$set_once": {"founded": 1999}},
    ]


def test_a_set_that_is_no_object_beside_flat_user_properties_is_refused_naming_it() -> None:
    identify = {"event_type": "$identify", "user_id": "u-1", "user_properties": {"$set": ["plan"], "plan": "pro"}}

    [refused] = routed(identify)

    assert isinstance(refused, Refused)
    assert refused.failure.field == "user_properties.$set"


@pytest.mark.parametrize("groups", [{"company": []}, {"company": [], "team": []}])
def test_group_identify_naming_no_group_id_is_refused_naming_groups(groups: dict[str, Any]) -> None:
    record = {"event_type": "$groupidentify", "user_id": "u", "groups": groups, "group_properties": {"seats": 300}}

    [refused] = routed(record)

    assert isinstance(refused, Refused)
    assert (refused.kind, refused.failure.field) == (Kind.GROUP, "groups")
    assert "names no group id" in refused.failure.reason


def test_group_identify_without_group_properties_is_still_filtered() -> None:
    record = {"event_type": "$groupidentify", "user_id": "u", "groups": {"company": "acme"}}

    [filtered] = routed(record)

    assert isinstance(filtered, FilteredOut)
    assert filtered.rule == "identify without properties"


@pytest.mark.parametrize(
    "record",
    [
        {"event_type": "$identify", "user_id": "u", "user_properties": {}},
        {"event_type": "$groupidentify", "user_id": "u", "groups": {"company": "acme"}, "group_properties": {}},
    ],
)
def test_identify_records_with_empty_properties_have_nothing_to_set_and_are_filtered(record: dict[str, Any]) -> None:
    # As without them, and as a Segment identify with empty traits: not an empty $set, parked for a field it lacks
    [filtered] = routed(record)

    assert isinstance(filtered, FilteredOut)
    assert filtered.rule == "identify without properties"


def test_group_identify_records_update_each_group_named() -> None:
    record = {
        "event_type": "$groupidentify",
        "user_id": "u",
        "groups": {"company": ["acme", "globex"]},
        "group_properties": {"seats": 300},
    }
    assert [sent(outcome)[1] for outcome in routed(record)] == [
        {"$group_key": "company", "$group_id": "acme", "$time": ENVELOPE_S, "$set": {"seats": 300}},
        {"$group_key": "company", "$group_id": "globex", "$time": ENVELOPE_S, "$set": {"seats": 300}},
    ]
    [refused] = routed({**record, "groups": {}})
    assert (refused.kind, refused.failure.field) == (Kind.GROUP, "groups")


@pytest.mark.parametrize(
    ("message", "field", "reason"),
    [
        ({"event_type": "e", "user_id": None, "device_id": ""}, "user_id", "needs user_id or device_id"),
        ({"event_type": "e", "user_id": "u", "event_time": "30/11/2026"}, "event_time", "not a time"),
        ({"event_type": "e", "user_id": "u", "event_properties": "x"}, "event_properties", "must be an object"),
    ],
)
def test_bad_amplitude_records_are_refused_naming_the_field(message: dict[str, Any], field: str, reason: str) -> None:
    [outcome] = routed(message, "amplitude")
    assert isinstance(outcome, Refused)
    assert (outcome.failure.field, reason in outcome.failure.reason) == (field, True)


def test_an_explicit_format_refuses_messages_of_another() -> None:
    mixpanel_event = {"event": "e", "properties": {"distinct_id": "u", "time": NOW_MS}}
    segment_track = {"type": "track", "event": "e", "userId": "u", "messageId": "m"}
    with pytest.raises(Invalid, match="must be one of track, page") as raised:
        routed(mixpanel_event, "segment")
    assert raised.value.field == "type"
    with pytest.raises(Invalid, match="needs event_type") as raised:  # the record as a whole: refused as it arrived
        routed(segment_track, "amplitude")
    assert raised.value.field == "event_type"
    with pytest.raises(
        Exception, match="is a Segment-spec message, and PAYLOAD_FORMAT is mixpanel: set PAYLOAD_FORMAT"
    ):
        routed(segment_track, "mixpanel")
    with pytest.raises(Invalid, match="is an Amplitude message"):
        routed(PLAY, "mixpanel")
    assert sent(routed(mixpanel_event, "mixpanel")[0])[0] is Kind.EVENT


def test_a_record_with_a_null_event_type_is_an_amplitude_record_refused_naming_it() -> None:
    with pytest.raises(Invalid, match="needs event_type") as raised:
        routed({"event_type": None, "user_id": "u", "event_time": EVENT_TIME})
    assert raised.value.field == "event_type"
