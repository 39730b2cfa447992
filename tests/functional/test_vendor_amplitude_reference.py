"""Amplitude's export JSON side by side with the reference: what the real Kinesis handler makes Mixpanel receive, in
the sink, against what mixpanel-import's Amplitude transform makes of the same records (docs/formats.md, "Amplitude").

`reference/amplitude_records.json` holds real-shaped export records, every field of Amplitude's S3 export schema
present as exports write them (nulls where a field does not apply): an iOS event, an anonymous web event without
`$insert_id`, an Android event with a GPS position, a server-side event without a device or an IP, an `[Experiment]`
exposure, an `$identify` and a `$groupidentify`. `reference/amplitude_mixpanel_import.json` is what mixpanel-import's
`vendor/amplitude.js` (at formats.md's pinned commit) makes of them, run by `amplitude_mixpanel_import.cjs` beside it.

Each test takes the reference's output, applies the differences docs/formats.md documents, each a named rule below, and
asserts that what the sink received is exactly that: a field mapped alike needs no rule, and one lost or renamed
without a rule fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from localdev.eventgen import kinesis_event, kinesis_record
from localdev.sink import MixpanelSink
from tests.functional.test_vendor_segment import events_by_name

REFERENCE = Path(__file__).resolve().parent / "reference"
RECORDS: list[dict[str, Any]] = json.loads((REFERENCE / "amplitude_records.json").read_text())
MIXPANEL_IMPORT: dict[str, Any] = json.loads((REFERENCE / "amplitude_mixpanel_import.json").read_text())
SONG, PRICING, WORKOUT, RENEWAL, EXPOSURE, IDENTIFY, GROUP_IDENTIFY = range(7)
EVENTS = {SONG: "ios", PRICING: "web-anonymous", WORKOUT: "android-gps", RENEWAL: "server-side-no-ip"}

# What Amplitude keeps for its own running of the pipeline: not sent (docs/formats.md, "Amplitude").
BOOKKEEPING = (
    "$schema",
    "amplitude_attribution_ids",
    "amplitude_event_type",
    "app",
    "client_event_time",
    "client_upload_time",
    "event_id",
    "is_attribution_event",
    "processed_time",
    "sample_rate",
    "server_received_time",
    "server_upload_time",
    "uuid",
)
MIXPANEL_NAMES = {  # Amplitude's name, kept by mixpanel-import → Mixpanel's reserved one
    "device_carrier": "$carrier",
    "device_family": "$device",
    "library": "mp_lib",
    "version_name": "$app_version_string",
    "location_lat": "$latitude",
    "location_lng": "$longitude",
}
# What mixpanel-import adds to a user's `$set` from the record's device and place (ampMixPairs).
PROFILE_DEVICE = ("$os", "$browser", "$os_version", "$brand", "$manufacturer", "$model", "$region", "$city")


def no_value(properties: dict[str, Any], record: dict[str, Any]) -> None:
    """null and "" are no value: not sent (mixpanel-import sends them, and `$device_id: ""` without a device)."""
    for name in [name for name, value in properties.items() if value is None or value == ""]:
        del properties[name]


def bookkeeping_not_sent(properties: dict[str, Any], record: dict[str, Any]) -> None:
    for name in BOOKKEEPING:
        properties.pop(name, None)


def name_is_not_a_property(properties: dict[str, Any], record: dict[str, Any]) -> None:
    properties.pop("event_type")  # the event's name says it


def no_source_mark(properties: dict[str, Any], record: dict[str, Any]) -> None:
    assert properties.pop("$source") == "amplitude-to-mixpanel"  # names the import tool, which this is not


def advertising_ids_not_sent(properties: dict[str, Any], record: dict[str, Any]) -> None:
    properties.pop("idfa", None)
    properties.pop("adid", None)


def ip_not_a_property(properties: dict[str, Any], record: dict[str, Any]) -> None:
    properties.pop("ip_address", None)  # `ip` places the event; Mixpanel drops it before storing


def mixpanel_names(properties: dict[str, Any], record: dict[str, Any]) -> None:
    for amplitude, mixpanel in MIXPANEL_NAMES.items():
        if amplitude in properties:
            properties[mixpanel] = properties.pop(amplitude)


def place_by_ip_else_by_name(properties: dict[str, Any], record: dict[str, Any]) -> None:
    """With an IP, Mixpanel places the event by it; without, by the names, a country only as a two-letter code."""
    for raw in ("city", "region"):
        properties.pop(raw, None)  # mixpanel-import keeps them raw beside $city and $region
    country = properties.pop("mp_country_code", None)
    if record["ip_address"]:
        for name in ("$city", "$region", "country"):
            properties.pop(name, None)
    else:
        properties["ip"] = 0  # not placed where the function runs (mixpanel-import: `ip: null`)
        if country is not None and len(country) == 2:
            properties["mp_country_code"] = properties.pop("country").upper()


def user_properties_not_on_events(properties: dict[str, Any], record: dict[str, Any]) -> None:
    for name in record["user_properties"]:  # the fixture's user properties share no name with anything else
        del properties[name]


def insert_id_from_uuid(properties: dict[str, Any], record: dict[str, Any]) -> None:
    if record["$insert_id"] is None:  # mixpanel-import hashes device, time and name
        properties["$insert_id"] = record["uuid"]


def user_creation_time_as_a_date(properties: dict[str, Any], record: dict[str, Any]) -> None:
    if "user_creation_time" in properties:
        written = datetime.fromisoformat(properties["user_creation_time"])
        properties["user_creation_time"] = written.replace(microsecond=0).isoformat()  # Mixpanel's date type


EVENT_RULES: tuple[Callable[[dict[str, Any], dict[str, Any]], None], ...] = (
    no_value,
    bookkeeping_not_sent,
    name_is_not_a_property,
    no_source_mark,
    advertising_ids_not_sent,
    ip_not_a_property,
    mixpanel_names,
    place_by_ip_else_by_name,
    user_properties_not_on_events,
    insert_id_from_uuid,
    user_creation_time_as_a_date,
)


def forward_all(sink: MixpanelSink, context: Any) -> None:
    records = [
        kinesis_record(json.dumps(record).encode(), index=n, sequence_number=f"4959{n:04d}")
        for n, record in enumerate(RECORDS)
    ]
    assert kinesis_handler(kinesis_event(records), context) == {"batchItemFailures": []}


def seconds(amplitude_time: str) -> float:
    return datetime.fromisoformat(amplitude_time).replace(tzinfo=UTC).timestamp()


def updates_received(sink: MixpanelSink) -> list[dict[str, Any]]:
    """Each update the sink applied, as sent: its profile's keys, operation, and $ip and $time when it had them."""
    received = []
    for update in sink.updates:
        if isinstance(update.key, tuple):
            keys: dict[str, Any] = {"$group_key": update.key[0], "$group_id": update.key[1]}
        else:
            keys = {"$distinct_id": update.key}
        fields = {"$ip": update.ip, "$time": update.hints.get("$time")}
        received.append({**keys, update.operation: update.value, **{k: v for k, v in fields.items() if v is not None}})
    return received


def test_the_reference_ran_on_these_records() -> None:
    assert MIXPANEL_IMPORT["source"].startswith("ak--47/mixpanel-import@18d51b80be72fcacbd9409a383e48763a8691b89")
    assert len(MIXPANEL_IMPORT["events"]) == len(RECORDS)
    assert [event and event["event"] for event in MIXPANEL_IMPORT["events"]][:4] == [
        RECORDS[n]["event_type"] for n in EVENTS
    ]


@pytest.mark.parametrize("n", list(EVENTS), ids=list(EVENTS.values()))
def test_events_arrive_as_mixpanel_import_sends_them_but_for_the_documented_rules(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any, n: int
) -> None:
    forward_all(sink, context)

    expected = json.loads(json.dumps(MIXPANEL_IMPORT["events"][n]["properties"]))
    for rule in EVENT_RULES:
        rule(expected, RECORDS[n])
    assert events_by_name(sink)[RECORDS[n]["event_type"]] == expected


def test_fields_mixpanel_import_keeps_and_main_dropped_arrive_alike(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    # Rule: Amplitude's device, place, revenue and user-age fields reach Mixpanel: under mixpanel-import's names
    # where Mixpanel has none, else Mixpanel's (device_family → $device); nothing a user would miss is dropped.
    forward_all(sink, context)

    song = events_by_name(sink)["Song Played"]
    reference = MIXPANEL_IMPORT["events"][SONG]["properties"]
    for field in ("device_type", "dma", "paying", "start_version", "amplitude_id"):
        assert song[field] == reference[field] == RECORDS[SONG][field]
    assert song["$device"] == reference["device_family"] == "Apple iPhone"
    assert song["user_creation_time"] == "2025-03-14T09:26:53"  # reference: "2025-03-14 09:26:53.000000"
    workout = events_by_name(sink)["Workout Saved"]
    assert (workout["$latitude"], workout["$longitude"]) == (48.1371, 11.5754)  # GPS beats the IP's place
    # the group's id wins over an event property of its name, as in the reference: the event joins its group
    assert workout["team"] == MIXPANEL_IMPORT["events"][WORKOUT]["properties"]["team"] == "t-9"


def test_experiment_exposures_are_kept_where_mixpanel_import_drops_them(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    # Rule: an [Experiment] event is the user's data and is sent (TRANSFORMS drop_events can filter it, counted)
    forward_all(sink, context)

    assert MIXPANEL_IMPORT["events"][EXPOSURE] is None
    exposure = events_by_name(sink)["[Experiment] Exposure"]
    assert {key: exposure[key] for key in RECORDS[EXPOSURE]["event_properties"]} == {
        "flag_key": "new-pricing-page",
        "variant": "treatment",
    }


def test_profiles_from_events_carry_their_user_properties_and_time(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    token_env(AMPLITUDE_USER_PROPERTIES="profile")

    forward_all(sink, context)

    received = [u for u in updates_received(sink) if "$set" in u and "$distinct_id" in u]
    for n in (SONG, WORKOUT, RENEWAL):
        reference = json.loads(json.dumps(MIXPANEL_IMPORT["users"][n]))
        for name in PROFILE_DEVICE:  # Rule: the profile holds Amplitude's user properties; device and place: events
            reference["$set"].pop(name, None)
        reference["$ip"] = reference["$ip"] or "0"  # Rule: no IP, not placed where the function runs
        reference["$time"] = seconds(RECORDS[n]["event_time"])  # Rule: when it happened, in seconds
        assert reference in received, n
    # Rule: a user known by device alone gets a profile too (its events' distinct_id); mixpanel-import skips it
    assert MIXPANEL_IMPORT["users"][PRICING] == {}
    pricing = RECORDS[PRICING]
    anonymous = {"$distinct_id": pricing["device_id"], "$ip": pricing["ip_address"]}
    assert {**anonymous, "$set": pricing["user_properties"], "$time": seconds(pricing["event_time"])} in received


def test_identify_updates_carry_the_records_time_and_one_operation_each(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    forward_all(sink, context)

    # Reference: the whole user_properties as one $set, Amplitude's operations inside it as values, no $time.
    assert MIXPANEL_IMPORT["users"][IDENTIFY]["$set"]["$setOnce"] == {"first_plan": "growth"}
    user = {"$distinct_id": "user-1800", "$ip": "203.0.113.200", "$time": seconds("2025-11-24 16:05:00")}
    assert [u for u in updates_received(sink) if "$distinct_id" in u] == [
        {**user, "$set": {"plan": "team", "seats": 5}},
        {**user, "$set_once": {"first_plan": "growth"}},
    ]


def test_group_identify_updates_the_group_it_names_when_it_happened(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    forward_all(sink, context)

    # Reference: {$group_key: null, $group_id: null}, which names no group, and no $time. Ours: the group in
    # `groups`, with $time as mixpanel-python sends one with every group update (/groups documents none).
    reference = MIXPANEL_IMPORT["groups"][GROUP_IDENTIFY]
    assert (reference["$group_key"], reference["$group_id"]) == (None, None)
    group = {"$group_key": "company", "$group_id": "acme-outdoor", "$time": seconds("2025-11-24 16:06:00")}
    assert [u for u in updates_received(sink) if "$group_key" in u] == [{**group, "$set": reference["$set"]}]


def test_the_records_are_amplitudes_export_shape() -> None:
    # Every field of the S3 export's JSON schema, on every record (amazon-s3.md, docs/formats.md's [amplitude s3])
    schema = {"$insert_id", "amplitude_id", "app", "city", "client_event_time", "client_upload_time", "country"}
    schema |= {"data", "device_carrier", "device_family", "device_id", "device_type", "dma", "event_id"}
    schema |= {"event_properties", "event_time", "event_type", "group_properties", "groups", "idfa", "ip_address"}
    schema |= {"language", "library", "location_lat", "location_lng", "os_name", "os_version", "paying", "platform"}
    schema |= {"processed_time", "region", "sample_rate", "server_received_time", "server_upload_time"}
    schema |= {"session_id", "start_version", "user_id", "user_properties", "uuid", "version_name", "adid"}
    schema |= {"user_creation_time", "device_manufacturer", "device_brand", "device_model", "amplitude_event_type"}
    schema |= {"is_attribution_event", "$schema", "amplitude_attribution_ids"}
    for record in RECORDS:
        assert schema <= set(record)
