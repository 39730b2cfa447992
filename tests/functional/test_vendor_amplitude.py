"""Amplitude's export JSON through the real Kinesis handler to the embedded sink, field by field; and what is refused,
parked with the field and the reason: vendor messages missing what they need, and messages not in PAYLOAD_FORMAT."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import amplitude_events, sample_event, segment_calls, sqs_event, sqs_record
from localdev.sink import MixpanelSink
from mixpanel_forwarder.normalize import is_insert_id
from tests.functional.conftest import load_event
from tests.functional.test_hostile_dead_letter import parked_failures
from tests.functional.test_vendor_segment import events_by_name
from tests.unit.test_eventgen_vendors import kinesis_messages


def ms(amplitude_time: str) -> int:
    """Amplitude's `YYYY-MM-DD HH:MM:SS.ffffff`, in UTC."""
    return round(datetime.fromisoformat(amplitude_time).replace(tzinfo=UTC).timestamp() * 1000)


def device(event: dict[str, Any]) -> dict[str, Any]:
    """What every Amplitude event maps of its device and library."""
    mapped = {
        "$os": event["os_name"],
        "$os_version": event["os_version"],
        "$model": event["device_model"],
        "mp_lib": event["library"],
        "platform": event["platform"],
        "language": event["language"],
        "session_id": event["session_id"],
        "device_type": event["device_type"],
        "amplitude_id": event["amplitude_id"],
        "user_creation_time": event["user_creation_time"].replace(" ", "T")[:19],  # Mixpanel's date type
        "$device_id": event["device_id"],
        "time": ms(event["event_time"]),
    }
    for field, name in (("device_manufacturer", "$manufacturer"), ("device_brand", "$brand")):
        if event[field] is not None:
            mapped[name] = event[field]
    if event["device_carrier"] is not None:
        mapped["$carrier"] = event["device_carrier"]
    if event["version_name"] is not None:
        mapped["$app_version_string"] = event["version_name"]
    return mapped


def test_amplitude_export_maps_field_by_field(sink: MixpanelSink, token_env: Callable[..., None], context: Any) -> None:
    played, saved, upgraded, identify = kinesis_messages("kinesis-amplitude.json")

    assert kinesis_handler(load_event("kinesis-amplitude.json"), context) == {"batchItemFailures": []}

    events = events_by_name(sink)
    assert sorted(events) == ["Plan Upgraded", "Song Played", "Workout Saved"]
    # With an IP: `ip`, and no place by name; groups and event_properties as properties; $insert_id kept.
    assert events["Song Played"] == {
        **device(played),
        "ip": played["ip_address"],
        **played["groups"],
        **played["event_properties"],
        "distinct_id": played["user_id"],
        "$user_id": played["user_id"],
        "$insert_id": played["$insert_id"],
    }
    # Anonymous (no user_id): distinct_id is the device; no IP: placed by city and region, the country's name (no
    # two-letter code) kept as Amplitude names it; a long insert id derived.
    workout = events["Workout Saved"]
    derived = workout.pop("$insert_id")
    assert is_insert_id(derived)
    assert derived != saved["$insert_id"]
    assert workout == {
        **device(saved),
        "$city": saved["city"],
        "$region": saved["region"],
        "country": saved["country"],
        "ip": 0,
        **saved["event_properties"],
        "distinct_id": saved["device_id"],
    }
    # Without $insert_id: Amplitude's uuid stands in.
    assert upgraded["$insert_id"] is None
    assert events["Plan Upgraded"]["$insert_id"] == upgraded["uuid"]
    assert events["Plan Upgraded"]["ip"] == upgraded["ip_address"]
    # $identify: its user properties a $set on the user, placed by its IP; events' user_properties ignored.
    assert list(sink.users) == [identify["user_id"]]
    assert sink.users[identify["user_id"]].properties == identify["user_properties"]
    assert sink.users[identify["user_id"]].ips == (identify["ip_address"],)


def test_amplitude_user_properties_as_profiles(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    token_env(AMPLITUDE_USER_PROPERTIES="profile")
    played, saved, upgraded, identify = kinesis_messages("kinesis-amplitude.json")

    assert kinesis_handler(load_event("kinesis-amplitude.json"), context) == {"batchItemFailures": []}

    assert len(sink.events) == 3
    assert sorted(sink.users) == sorted([played["user_id"], saved["device_id"]])
    assert sink.users[saved["device_id"]].properties == saved["user_properties"]
    assert sink.users[saved["device_id"]].ips == ("0",)  # no IP: not placed where the function runs
    assert sink.users[played["user_id"]].ips == (played["ip_address"], upgraded["ip_address"], identify["ip_address"])


GROUP_IDENTIFY = {"event_type": "$groupidentify", "user_id": "u-7", "groups": {"company": "acme"}}


def test_identify_flat_properties_beside_operations_all_reach_the_profile(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    identify = {
        "event_type": "$identify",
        "user_id": "u-7",
        "user_properties": {"$set": {"plan": "team"}, "plan": "pro", "seats": 5, "$add": {"logins": 2}},
    }
    group = {**GROUP_IDENTIFY, "group_properties": {"$setOnce": {"founded": 1999}, "employees": 40}}

    assert sqs_handler(one_by_one(identify, group), context) == {"batchItemFailures": []}

    assert sink.users["u-7"].properties == {"plan": "team", "seats": 5, "logins": 2}  # $set wins on "plan"
    assert sink.groups[("company", "acme")].properties == {"employees": 40, "founded": 1999}


def one_by_one(*messages: Any) -> dict[str, Any]:
    return sqs_event([sqs_record(json.dumps(m), index=i, message_id=f"m{i}") for i, m in enumerate(messages)])


@pytest.mark.parametrize(
    ("payload_format", "message", "field", "says"),
    [
        ("auto", {**segment_calls(1800)[1], "userId": None, "anonymousId": None}, "userId", "userId or anonymousId"),
        ("auto", {**segment_calls(1810)[1], "timestamp": "last Tuesday"}, "timestamp", "is not a time"),
        ("auto", {**amplitude_events(1820)[0], "event_type": ""}, "event_type", "needs event_type"),
        ("amplitude", {k: v for k, v in amplitude_events(1830)[0].items() if k != "event_type"}, "event_type", "needs"),
        ("auto", {**amplitude_events(1840)[0], "event_time": "24/11/2025 16:00"}, "event_time", "is not a time"),
        ("segment", sample_event(1850), "type", "not a Segment-spec call"),
        ("mixpanel", segment_calls(1860)[1], "message", "PAYLOAD_FORMAT is mixpanel"),
        ("amplitude", sample_event(1870), "event_type", "needs event_type"),
        ("auto", {**GROUP_IDENTIFY, "groups": {"company": []}}, "groups", "names no group id"),
    ],
    ids=[
        "segment-no-ids",
        "segment-bad-timestamp",
        "amplitude-empty-event-type",
        "amplitude-no-event-type",
        "amplitude-bad-event-time",
        "mixpanel-under-segment",
        "segment-under-mixpanel",
        "mixpanel-under-amplitude",
        "amplitude-groupidentify-naming-no-group",
    ],
)
def test_what_cannot_be_mapped_is_parked_with_the_field_and_reason(
    sink: MixpanelSink,
    token_env: Callable[..., None],
    dlq: str,
    context: Any,
    payload_format: str,
    message: dict[str, Any],
    field: str,
    says: str,
) -> None:
    token_env(PAYLOAD_FORMAT=payload_format, DEAD_LETTER_QUEUE_URL=dlq)
    valid = {"auto": sample_event(1890), "mixpanel": sample_event(1890)}.get(payload_format)
    valid = valid or (segment_calls(1890)[1] if payload_format == "segment" else amplitude_events(1890)[0])

    assert sqs_handler(one_by_one(valid, message), context) == {"batchItemFailures": []}

    assert len(sink.events) == 1  # the valid message of the format flows
    [parked] = parked_failures(dlq)
    assert parked["source"]["messageId"] == "m1"
    assert parked["field"] == field
    assert says in parked["reason"]
    assert parked["event"] == message  # as it arrived, for a replay once fixed
