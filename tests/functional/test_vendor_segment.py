"""Segment-spec samples (Segment direct and through its EventBridge partner source, RudderStack on Kinesis) through
the real handlers to the embedded sink: every mapped field of what arrived, checked against the sample it came from.

The mapping is formats/segment.py's (docs/formats.md, "Segment spec"); each expected value here is read from the sample
message's own field, so a test names the field it maps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import sqs_event, sqs_record
from localdev.sink import MixpanelSink
from mixpanel_forwarder import metrics as names
from mixpanel_forwarder import runtime
from mixpanel_forwarder.normalize import is_insert_id
from tests.functional.conftest import load_event
from tests.functional.test_hostile_dead_letter import parked_failures
from tests.functional.test_metrics import invocation_metrics
from tests.unit.test_eventgen_vendors import kinesis_messages

SEGMENT_CALLS = ("page", "track", "screen", "identify", "group", "alias")


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def bodies(name: str) -> list[dict[str, Any]]:
    return [json.loads(record["body"]) for record in load_event(name)["Records"]]


def events_by_name(sink: MixpanelSink) -> dict[str, dict[str, Any]]:
    found = {event["event"]: event["properties"] for event in sink.events}
    assert len(found) == len(sink.events), "one event of each name"
    return found


def summary() -> dict[str, Any]:
    result = runtime.last_result()
    assert result is not None
    return result.summary()


def identity(message: dict[str, Any]) -> dict[str, Any]:
    """distinct_id = userId, else anonymousId; $user_id and $device_id as given; time from `timestamp`."""
    user_id, anonymous_id = message.get("userId"), message.get("anonymousId")
    expected = {"distinct_id": user_id or anonymous_id, "time": ms(message["timestamp"])}
    if user_id:
        expected["$user_id"] = user_id
    if anonymous_id:
        expected["$device_id"] = anonymous_id
    return expected


# The samples' user agent (Chrome 131 on a Mac) as Mixpanel's JavaScript SDK names it, the version in full as both
# reference destinations send it (formats/user_agent.py).
CHROME_ON_MAC = {"$browser": "Chrome", "$browser_version": "131.0.0.0", "$os": "Mac OS X"}


def web_context(context: dict[str, Any]) -> dict[str, Any]:
    """analytics.js's context: ip, locale, timezone, page, library, campaign (utm_*) and user agent as Mixpanel names
    them."""
    campaign = context["campaign"]
    assert "Chrome/131.0.0.0" in context["userAgent"]
    assert "Mac OS X" in context["userAgent"]
    return {
        **CHROME_ON_MAC,
        "ip": context["ip"],
        "$locale": context["locale"],
        "timezone": context["timezone"],
        "$current_url": context["page"]["url"],
        "$referrer": context["page"]["referrer"],
        "mp_lib": context["library"]["name"],
        "$lib_version": context["library"]["version"],
        "utm_campaign": campaign["name"],
        "utm_source": campaign["source"],
        "utm_medium": campaign["medium"],
        "utm_term": campaign["term"],
        "utm_content": campaign["content"],
    }


def test_segment_calls_map_field_by_field_under_original_id_merge(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    token_env(MIXPANEL_ID_MERGE="original")
    page, track, screen, identify, group, alias = bodies("sqs-segment.json")

    assert sqs_handler(load_event("sqs-segment.json"), context) == {"batchItemFailures": []}

    events = events_by_name(sink)
    assert sorted(events) == sorted(
        ["Viewed Pricing", "Product Added", "Viewed Order Confirmation", "$identify", "$create_alias"]
    )
    # page: "Viewed {name}", with name and category; an anonymous visitor (no $user_id).
    viewed = events["Viewed Pricing"]
    insert_id = viewed.pop("$insert_id")
    assert viewed == {
        **web_context(page["context"]),
        **page["properties"],
        "name": page["name"],
        "category": page["category"],
        **identity(page),
    }
    assert "$user_id" not in viewed
    # track: the event named `event`; messageId too long for Mixpanel's rule: an id derived from it.
    added = events["Product Added"]
    assert len(track["messageId"]) > 36
    assert is_insert_id(added["$insert_id"])
    assert added["$insert_id"] not in (track["messageId"], insert_id)
    assert {k: v for k, v in added.items() if k != "$insert_id"} == {
        **web_context(track["context"]),
        **track["properties"],
        **identity(track),
    }
    # screen from iOS: app, device, os, network and screen mapped; an upper-case UUID messageId is kept.
    ios = screen["context"]
    assert events["Viewed Order Confirmation"] == {
        "ip": ios["ip"],
        "$locale": ios["locale"],
        "timezone": ios["timezone"],
        "$app_name": ios["app"]["name"],
        "$app_namespace": ios["app"]["namespace"],
        "$app_build_number": ios["app"]["build"],
        "$app_version_string": ios["app"]["version"],
        "$os": ios["os"]["name"],
        "$os_version": ios["os"]["version"],
        "$manufacturer": ios["device"]["manufacturer"],
        "$model": ios["device"]["model"],
        "$carrier": ios["network"]["carrier"],
        "$wifi": ios["network"]["wifi"],
        "$bluetooth_enabled": ios["network"]["bluetooth"],
        "$cellular_enabled": ios["network"]["cellular"],
        "$screen_width": ios["screen"]["width"],
        "$screen_height": ios["screen"]["height"],
        "$screen_dpi": ios["screen"]["density"],
        "mp_lib": ios["library"]["name"],
        "$lib_version": ios["library"]["version"],
        **screen["properties"],
        "name": screen["name"],
        **identity(screen),
        "$insert_id": screen["messageId"],
    }
    # identify under original ID merge: a $identify event linking the anonymous id to the user.
    identified = events["$identify"]
    assert is_insert_id(identified.pop("$insert_id"))
    assert identified == {
        "distinct_id": identify["userId"],
        "$identified_id": identify["userId"],
        "$anon_id": identify["anonymousId"],
        "time": ms(identify["timestamp"]),
        "ip": identify["context"]["ip"],  # the identify call's own address, as its profile update's $ip
    }
    # alias: $create_alias, the previous id given userId as an alias; a uuid4 messageId kept.
    assert events["$create_alias"] == {
        "mp_lib": "analytics-python",
        "$lib_version": "2.3.3",
        "distinct_id": alias["previousId"],
        "alias": alias["userId"],
        "$user_id": alias["userId"],
        "time": ms(alias["timestamp"]),
        "$insert_id": alias["messageId"],
        "ip": 0,
    }
    # identify's traits: a $set with Mixpanel's special ones; group: the group's $set and the user's $union.
    traits, company = identify["traits"], group["traits"]
    user = sink.users[identify["userId"]]
    assert user.properties == {
        **CHROME_ON_MAC,  # the profile's, as Mixpanel's JavaScript SDK sets them on one
        "$timezone": identify["context"]["timezone"],  # where the library tells it, not from the address
        "$email": traits["email"],
        "$first_name": traits["firstName"],
        "$last_name": traits["lastName"],
        "$name": f"{traits['firstName']} {traits['lastName']}",
        "$phone": traits["phone"],
        "$username": traits["username"],
        "$avatar": traits["avatar"],
        "$created": traits["createdAt"],
        "plan": traits["plan"],
        "newsletter": traits["newsletter"],
        "$group_id": [group["groupId"]],
    }
    assert user.ips == (identify["context"]["ip"], "0")  # identify's client address; the server's group call none
    assert list(sink.groups) == [("$group_id", group["groupId"])]
    assert sink.groups[("$group_id", group["groupId"])].properties == {
        "$name": company["name"],
        "industry": company["industry"],
        "employees": company["employees"],
        "plan": company["plan"],
        "website": company["website"],
        "$created": company["createdAt"],
    }


def test_derived_insert_ids_are_the_same_on_a_second_run(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    token_env(MIXPANEL_ID_MERGE="original")
    assert sqs_handler(load_event("sqs-segment.json"), context) == {"batchItemFailures": []}
    first = sorted(event["properties"]["$insert_id"] for event in sink.events)

    runtime.reset()
    assert sqs_handler(load_event("sqs-segment.json"), context) == {"batchItemFailures": []}

    assert sink.duplicates == len(first) == 5  # every event of the redelivery is one Mixpanel already has
    assert sorted(event["properties"]["$insert_id"] for event in sink.events) == first


def test_under_simplified_id_merge_alias_is_parked_with_its_reason_and_identify_makes_no_event(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any, dlq: str
) -> None:
    token_env(DEAD_LETTER_QUEUE_URL=dlq)  # MIXPANEL_ID_MERGE: simplified, the default

    assert sqs_handler(load_event("sqs-segment.json"), context) == {"batchItemFailures": []}

    assert sorted(events_by_name(sink)) == ["Product Added", "Viewed Order Confirmation", "Viewed Pricing"]
    [parked] = parked_failures(dlq)
    assert parked["field"] == "event"
    assert "$create_alias is ignored by simplified ID merge" in parked["reason"]
    assert parked["event"]["type"] == "alias"  # parked as it arrived, in Segment's shape
    assert summary()["parked_invalid"] == 1
    assert "$email" in sink.users["user-1400"].properties


def test_segment_calls_inside_eventbridge_map_as_they_do_alone(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    token_env(MIXPANEL_ID_MERGE="original")
    invocation = load_event("sqs-segment-eventbridge.json")
    envelopes = [json.loads(record["body"]) for record in invocation["Records"]]
    assert {envelope["source"] for envelope in envelopes} == {envelopes[0]["source"]}
    assert envelopes[0]["source"].startswith("aws.partner/segment.com/")

    assert sqs_handler(invocation, context) == {"batchItemFailures": []}
    through_eventbridge = sorted(sink.events, key=lambda event: event["properties"]["$insert_id"])
    users, groups = sink.users, sink.groups
    assert len(through_eventbridge) == 5
    assert len(users) == len(groups) == 1

    sink.clear()
    runtime.reset()
    details = [envelope["detail"] for envelope in envelopes]
    alone = sqs_event([sqs_record(json.dumps(detail), index=i) for i, detail in enumerate(details)])
    assert sqs_handler(alone, context) == {"batchItemFailures": []}

    assert sorted(sink.events, key=lambda event: event["properties"]["$insert_id"]) == through_eventbridge
    assert sink.users == users
    assert sink.groups == groups
    track = next(d for d in details if d["type"] == "track")
    added = events_by_name(sink)["Product Added"]
    assert added["time"] == ms(track["timestamp"])  # the message's time, not the envelope's
    assert (added["distinct_id"], added["$device_id"]) == (track["userId"], track["anonymousId"])


def test_rudderstack_messages_on_kinesis(sink: MixpanelSink, token_env: Callable[..., None], context: Any) -> None:
    page, server, android, _ = kinesis_messages("kinesis-rudderstack.json")

    assert kinesis_handler(load_event("kinesis-rudderstack.json"), context) == {"batchItemFailures": []}

    events = events_by_name(sink)
    assert sorted(events) == ["Order Completed", "Viewed Trail Runner 2", "Workout Started"]
    for message, properties in ((page, events["Viewed Trail Runner 2"]), (server, events["Order Completed"])):
        assert len(message["messageId"]) > 36  # "<ms>-<uuid>": an id derived from it
        assert is_insert_id(properties["$insert_id"])
        assert properties["mp_lib"] == message["context"]["library"]["name"]
        assert {k: properties[k] for k in identity(message)} == identity(message)
        for field in ("channel", "request_ip", "rudderId", "integrations"):
            assert field not in properties  # RudderStack's own fields are not event properties
    assert events["Order Completed"]["ip"] == server["context"]["ip"]
    assert events["Order Completed"]["order_id"] == server["properties"]["order_id"]
    workout = events["Workout Started"]
    phone = android["context"]
    expected = {
        "$os": phone["os"]["name"],
        "$os_version": phone["os"]["version"],
        "$manufacturer": phone["device"]["manufacturer"],
        "$model": phone["device"]["model"],
        "$screen_width": phone["screen"]["width"],
        "$screen_height": phone["screen"]["height"],
        "$screen_dpi": phone["screen"]["density"],
        "$app_version_string": phone["app"]["version"],
    }
    assert {name: workout[name] for name in expected} == expected


def test_rudderstack_identify_traits_in_context_make_a_profile(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    identify = kinesis_messages("kinesis-rudderstack.json")[3]

    kinesis_handler(load_event("kinesis-rudderstack.json"), context)

    assert sink.users[identify["userId"]].properties["$email"] == identify["context"]["traits"]["email"]


def test_identify_with_empty_traits_sets_the_context_traits(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    identify = {
        "type": "identify",
        "userId": "user-empty-traits",
        "messageId": "m-1",
        "traits": {},
        "context": {"traits": {"email": "sam@example.com", "plan": "pro"}},
    }
    event = sqs_event([sqs_record(json.dumps(identify), message_id="m-1")])

    assert sqs_handler(event, context) == {"batchItemFailures": []}

    assert sink.users["user-empty-traits"].properties == {"$email": "sam@example.com", "plan": "pro"}


def test_rudderstack_request_ip_places_an_event_without_context_ip(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    page = kinesis_messages("kinesis-rudderstack.json")[0]

    kinesis_handler(load_event("kinesis-rudderstack.json"), context)

    assert events_by_name(sink)["Viewed Trail Runner 2"]["ip"] == page["request_ip"]


def test_calls_whose_integrations_turn_mixpanel_off_are_counted_filtered_never_sent_or_parked(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any, dlq: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token_env(DEAD_LETTER_QUEUE_URL=dlq)
    track, _, identify = (next(b for b in bodies("sqs-segment.json") if b["type"] == t) for t in SEGMENT_CALLS[1:4])
    off_classic = {**track, "messageId": "off-1", "integrations": {"All": True, "Mixpanel": False}}
    off_actions = {**identify, "messageId": "off-2", "integrations": {"Mixpanel (Actions)": False}}
    all_off = {**track, "messageId": "on-1", "integrations": {"All": False, "Amazon Kinesis": True}}
    messages = (off_classic, off_actions, all_off)
    invocation = sqs_event([sqs_record(json.dumps(m), index=i) for i, m in enumerate(messages)])

    assert sqs_handler(invocation, context) == {"batchItemFailures": []}

    assert [event["properties"]["$insert_id"] for event in sink.events] == ["on-1"]  # "All": false alone: sent
    assert sink.users == {}
    assert parked_failures(dlq) == []
    counted = summary()
    assert (counted["filtered"], counted["user_updates_filtered"]) == (1, 1)
    assert counted["filtered_by"] == {"integrations turn Mixpanel off": 2}
    metrics = invocation_metrics(capsys.readouterr().out)["metrics"]
    assert (metrics[names.EVENTS_FILTERED], metrics["UserUpdatesFiltered"]) == (1, 1)
    assert (metrics[names.EVENTS_PARKED], metrics[names.EVENTS_REPORTED]) == (0, 0)
