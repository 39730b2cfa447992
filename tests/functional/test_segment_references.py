"""Segment-spec messages side by side with the reference destinations (issue 21): the inputs are the references' own
test fixtures, sent through the real SQS handler to the embedded sink, and what Mixpanel received is compared with
what the reference sends for them. Each expected value is written from the reference's rule (its output in the
fixture, or the rule named beside it), and where we differ docs/formats.md's Segment table says so and why: the comment
there names the line.

RudderStack: rudder-transformer `test/integrations/destinations/mp/processor/data.ts` ("Test N"), Segment: action-
destinations `mixpanel/common/__test__/utils.test.ts`, both at the commits docs/formats.md pins.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import sqs_event, sqs_record
from localdev.sink import MixpanelSink
from tests.functional.test_hostile_dead_letter import parked_failures

CHROME_79 = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_2) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.117 Safari/537.36"
)
DALVIK = "Dalvik/2.1.0 (Linux; U; Android 8.1.0; Android SDK built for x86 Build/OSM1.180201.007)"
RUDDER_WEB = {  # RudderStack's JavaScript SDK's context in Tests 0 and 37: empty strings where it knows nothing
    "app": {
        "build": "1.0.0",
        "name": "RudderLabs JavaScript SDK",
        "namespace": "com.rudderlabs.javascript",
        "version": "1.0.5",
    },
    "ip": "0.0.0.0",
    "library": {"name": "RudderLabs JavaScript SDK", "version": "1.0.5"},
    "locale": "en-GB",
    "os": {"name": "", "version": ""},
    "screen": {"density": 2},
    "traits": {},
    "page": {
        "path": "/destinations/mixpanel",
        "referrer": "",
        "search": "",
        "title": "",
        "url": "https://docs.rudderstack.com/destinations/mixpanel",
        "category": "destination",
        "initial_referrer": "https://docs.rudderstack.com",
        "initial_referring_domain": "docs.rudderstack.com",
    },
    "userAgent": CHROME_79,
}
RUDDER_TIMES = {
    "originalTimestamp": "2020-01-24T06:29:02.358Z",
    "receivedAt": "2020-01-24T11:59:02.403+05:30",
    "sentAt": "2020-01-24T06:29:02.359Z",
    "timestamp": "2020-01-24T11:59:02.402+05:30",
}
RUDDER_TIME_MS = 1579847342402  # Test 0's `time`: `timestamp`, else `originalTimestamp`


def rudder_android(device_type: str, os_name: str) -> dict[str, Any]:
    """Tests 18 and 19: an identify from RudderStack's Android SDK, the device's family and push token given."""
    return {
        "anonymousId": "5094f5704b9cf2b3",
        "channel": "mobile",
        "context": {
            "app": {
                "build": "1",
                "name": "LeanPlumIntegrationAndroid",
                "namespace": "com.android.SampleLeanPlum",
                "version": "1.0",
            },
            "device": {
                "id": "5094f5704b9cf2b3",
                "manufacturer": "Google",
                "model": "Android SDK built for x86",
                "name": "generic_x86",
                "type": device_type,
                "token": "test_device_token",
            },
            "library": {"name": "com.rudderstack.android.sdk.core", "version": "1.0.1-beta.1"},
            "locale": "en-US",
            "network": {"carrier": "Android", "bluetooth": False, "cellular": True, "wifi": True},
            "os": {"name": os_name, "version": "8.1.0"},
            "screen": {"density": 420, "height": 1794, "width": 1080},
            "timezone": "Asia/Kolkata",
            "traits": {"anonymousId": "5094f5704b9cf2b3"},
            "userAgent": DALVIK,
        },
        "event": "MainActivity",
        "integrations": {"All": True},
        "messageId": "id2",
        "properties": {"name": "MainActivity", "automatic": True},
        "originalTimestamp": "2020-03-12T09:05:03.421Z",
        "type": "identify",
        "sentAt": "2020-03-12T09:05:13.042Z",
    }


def forward(context: Any, *messages: dict[str, Any]) -> None:
    records = [sqs_record(json.dumps(message), index=i) for i, message in enumerate(messages)]
    assert sqs_handler(sqs_event(records), context) == {"batchItemFailures": []}


def test_rudderstacks_page_lands_as_its_destination_lands_it(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    page = {
        "anonymousId": "e6ab2c5e-2cda-44a9-a962-e2f67df78bca",
        "channel": "web",
        "name": "Contact Us",
        "context": RUDDER_WEB,
        "integrations": {"All": True},
        "messageId": "dd266c67-9199-4a52-ba32-f46ddde67312",
        **RUDDER_TIMES,
        "request_ip": "[::1]:53708",
        "type": "page",
        "userId": "hjikl",
    }
    # Test 0's output, as RudderStack sends it.
    reference = {
        "ip": "0.0.0.0",
        "campaign_id": "test_name",
        "$user_id": "hjikl",
        "$current_url": "https://docs.rudderstack.com/destinations/mixpanel",
        "$screen_dpi": 2,
        "mp_lib": "RudderLabs JavaScript SDK",
        "$initial_referrer": "https://docs.rudderstack.com",
        "$initial_referring_domain": "docs.rudderstack.com",
        "$app_build_number": "1.0.0",
        "$app_version_string": "1.0.5",
        "$insert_id": "dd266c67-9199-4a52-ba32-f46ddde67312",
        "$app_name": "RudderLabs JavaScript SDK",
        "$app_namespace": "com.rudderlabs.javascript",
        "distinct_id": "hjikl",
        "time": RUDDER_TIME_MS,
        "utm_campaign": "test_name",
        "utm_source": "rudder",
        "utm_medium": "test_medium",
        "utm_term": "test_tem",
        "utm_content": "test_content",
        "utm_test": "test",
        "utm_keyword": "test_keyword",
        "name": "Contact Us",
        "$browser": "Chrome",
        "$browser_version": "79.0.3945.117",
    }
    campaign = {
        "name": "test_name",
        "source": "rudder",
        "medium": "test_medium",
        "term": "test_tem",
        "content": "test_content",
        "test": "test",
        "keyword": "test_keyword",
    }

    forward(context, {**page, "context": {**RUDDER_WEB, "campaign": campaign}})

    [event] = sink.events
    expected = {k: v for k, v in reference.items() if k != "campaign_id"}  # formats.md: `utm_campaign` only
    expected |= {
        "$device_id": page["anonymousId"],  # formats.md `$user_id`, `$device_id`: what simplified ID merge reads
        "$locale": "en-GB",  # formats.md `$locale`: as Actions
        "$lib_version": "1.0.5",  # formats.md `mp_lib`, `$lib_version`: `context.library.version`, as Actions
        "$os": "Mac OS X",  # formats.md user agent: `os.name` is "", so the user agent tells it (mixpanel-js's name)
    }
    assert event == {"event": "Viewed Contact Us", "properties": expected}  # formats.md event name: `Viewed {name}`
    assert "$referrer" not in event["properties"]  # "" is no value: dropped, as the reference drops it


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_timestamp_is_absent_and_the_next_time_in_the_specs_order_dates_the_message(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any, empty: str
) -> None:
    # RudderStack: `time = timestamp || originalTimestamp` (transform.js), so "" falls through to originalTimestamp.
    track = {"type": "track", "event": "Opened", "userId": "u-1", "messageId": "m-1", **RUDDER_TIMES}
    identify = {"type": "identify", "userId": "u-1", "messageId": "m-2", "traits": {"plan": "pro"}, **RUDDER_TIMES}

    forward(context, {**track, "timestamp": empty}, {**identify, "timestamp": empty})

    [event] = sink.events
    assert event["properties"]["time"] == 1579847342358  # originalTimestamp
    [update] = sink.updates
    assert update.hints["$time"] == 1579847342.358


def test_rudderstacks_identify_of_an_inactive_user_carries_its_time_and_ignore_time(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    traits = {
        "city": "Disney",
        "country": "USA",
        "email": "mickey@disney.com",
        "firstName": "Mickey",
        "lastName": "Mouse",
        "createdAt": "2020-01-23T08:54:02.362Z",
    }
    identify = {
        "anonymousId": "e6ab2c5e-2cda-44a9-a962-e2f67df78bca",
        "channel": "web",
        "context": {**RUDDER_WEB, "active": False, "traits": traits},
        "messageId": "2536eda4-d638-4c93-8014-8ffe3f083214",
        **RUDDER_TIMES,
        "originalTimestamp": "2020-01-24T06:29:02.362Z",
        "request_ip": "[::1]:53709",
        "type": "identify",
        "userId": "",
    }
    # Test 37's output: the $set, and beside it $ip, $time (ms there) and $ignore_time.
    reference_set = {
        "$created": "2020-01-23T08:54:02.362Z",
        "$email": "mickey@disney.com",
        "$first_name": "Mickey",
        "$last_name": "Mouse",
        "$country_code": "USA",
        "$city": "Disney",
        "$initial_referrer": "https://docs.rudderstack.com",
        "$initial_referring_domain": "docs.rudderstack.com",
        "$name": "Mickey Mouse",
        "$browser": "Chrome",
        "$browser_version": "79.0.3945.117",
    }

    forward(context, identify)

    [update] = sink.updates
    assert update.key == identify["anonymousId"]  # userId "" is no id
    expected = {k: v for k, v in reference_set.items() if k != "$country_code"}
    expected["country"] = "USA"  # formats.md `$country_code`: a two-letter code only; a name stays as it is
    expected["$os"] = "Mac OS X"  # formats.md user agent: as Mixpanel's JavaScript SDK sets a profile's
    assert (update.operation, update.value) == ("$set", expected)
    assert update.ip == "0.0.0.0"
    assert update.hints == {"$time": RUDDER_TIME_MS / 1000, "$ignore_time": True}  # formats.md `$time`: seconds


@pytest.mark.parametrize(
    ("device_type", "os_name", "family"),
    [
        # Test 18's output (Android): the $set, $android_devices inside it.
        (
            "android",
            "Android",
            {
                "$android_devices": ["test_device_token"],
                "$android_model": "Android SDK built for x86",
                "$android_os_version": "8.1.0",
                "$android_manufacturer": "Google",
                "$android_app_version": "1.0",
                "$android_app_version_code": "1",
                "$android_brand": "Google",
            },
        ),
        # Test 19's output (iOS).
        (
            "ios",
            "iOS",
            {
                "$ios_devices": ["test_device_token"],
                "$ios_device_model": "Android SDK built for x86",
                "$ios_version": "8.1.0",
                "$ios_app_release": "1.0",
                "$ios_app_version": "1",
            },
        ),
    ],
)
def test_rudderstacks_mobile_identify_sets_its_device_on_the_profile_and_adds_its_push_token(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any, device_type: str, os_name: str, family: Any
) -> None:
    identify = rudder_android(device_type, os_name)
    reference_set = {
        "$carrier": "Android",
        "$manufacturer": "Google",
        "$model": "Android SDK built for x86",
        "$screen_height": 1794,
        "$screen_width": 1080,
        "$wifi": True,
        "anonymousId": "5094f5704b9cf2b3",
        "$os": os_name,
        **family,
    }

    forward(context, identify)

    profile = sink.users[identify["anonymousId"]]
    expected = {
        **reference_set,
        "$timezone": "Asia/Kolkata",  # formats.md `$timezone`: `context.timezone` where `location` has none
        "$browser": "Android Mobile",  # formats.md user agent: every channel, as Actions; mixpanel-js's name
        "$browser_version": "8.1.0",
    }
    assert profile.properties == expected
    set_update, push = sink.updates
    token_name = next(name for name in family if name.endswith("_devices"))
    # formats.md push tokens: a `$union` of its own, as Mixpanel's SDKs add one (RudderStack `$set`s the list)
    assert (push.operation, push.value) == ("$union", {token_name: ["test_device_token"]})
    assert set_update.hints == push.hints == {"$time": 1584003903.421}  # originalTimestamp, in seconds


def test_rudderstacks_group_with_a_list_of_companies_makes_a_group_profile_each_and_one_membership(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    token_env(SEGMENT_GROUP_KEY="company")
    group = {  # Test 15, its destination's group key `company`
        "anonymousId": "e6ab2c5e-2cda-44a9-a962-e2f67df78bca",
        "channel": "mobile",
        "context": {**RUDDER_WEB, "page": {}},
        "messageId": "dd266c67-9199-4a52-ba32-f46ddde67312",
        "traits": {"company": ["testComp", "testComp1"]},
        **RUDDER_TIMES,
        "type": "group",
        "userId": "hjikl",
    }

    forward(context, group)

    # Test 15's output: the user's `$set` of the list, then a /groups `$set` of the traits per id.
    assert sorted(sink.groups) == [("company", "testComp"), ("company", "testComp1")]
    for profile in sink.groups.values():
        assert profile.properties == {"company": ["testComp", "testComp1"]}
    assert sink.users["hjikl"].properties == {"company": ["testComp", "testComp1"]}  # formats.md: a `$union` of them
    member = next(update for update in sink.updates if update.key == "hjikl")
    assert (member.operation, member.ip) == ("$union", "0.0.0.0")
    assert {update.hints["$time"] for update in sink.updates} == {RUDDER_TIME_MS / 1000}


def test_rudderstacks_session_id_is_a_string_and_the_context_says_what_the_user_agent_would(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    track = {  # Test 41
        "type": "track",
        "event": "Application Installed",
        "sentAt": "2022-09-05T07:46:26.322Z",
        "channel": "mobile",
        "context": {
            "os": {"name": "Android", "version": "12"},
            "app": {"name": "Sample Kotlin", "build": "4", "version": "1.0", "namespace": "com.example.testapp1mg"},
            "device": {
                "id": "39da706ec83d0e90",
                "name": "emu64a",
                "type": "Android",
                "model": "sdk_gphone64_arm64",
                "manufacturer": "Google",
            },
            "locale": "en-US",
            "screen": {"width": 1440, "height": 2984, "density": 560},
            "traits": {"anonymousId": "39da706ec83d0e90"},
            "library": {"name": "com.rudderstack.android.sdk.core", "version": "1.7.0"},
            "network": {"wifi": True, "carrier": "T-Mobile", "cellular": True, "bluetooth": True},
            "timezone": "Asia/Kolkata",
            "sessionId": 1662363980,
            "userAgent": "Dalvik/2.1.0 (Linux; U; Android Tiramisu Build/TPP2.220218.008)",
            "sessionStart": True,
        },
        "rudderId": "3ef1dec3-d729-4830-a394-7b8be6819765",
        "messageId": "1662363980287-168cf720-6227-4b56-a98e-c49bdc7279e9",
        "properties": {"build": 4, "version": "1.0"},
        "anonymousId": "39da706ec83d0e90",
        "integrations": {"All": True},
        "originalTimestamp": "2022-09-05T07:46:20.290Z",
    }
    reference = {  # Test 41's output
        "build": 4,
        "version": "1.0",
        "anonymousId": "39da706ec83d0e90",
        "$os": "Android",
        "$screen_height": 2984,
        "$screen_width": 1440,
        "$screen_dpi": 560,
        "$carrier": "T-Mobile",
        "$os_version": "12",
        "$device": "emu64a",
        "$manufacturer": "Google",
        "$model": "sdk_gphone64_arm64",
        "mp_device_model": "sdk_gphone64_arm64",
        "$wifi": True,
        "$bluetooth_enabled": True,
        "mp_lib": "com.rudderstack.android.sdk.core",
        "$app_build_number": "4",
        "$app_version_string": "1.0",
        "$insert_id": "168cf720-6227-4b56-a98e-c49bdc7279e9",
        "$session_id": "1662363980",
        "$app_name": "Sample Kotlin",
        "$app_namespace": "com.example.testapp1mg",
        "distinct_id": "39da706ec83d0e90",
        "time": 1662363980290,
    }

    forward(context, track)

    [event] = sink.events
    properties = event["properties"]
    assert properties["$session_id"] == reference["$session_id"]
    # The context's own `$os` and `$device` win over the user agent's ("Android", "Android").
    assert (properties["$os"], properties["$device"]) == (reference["$os"], reference["$device"])
    different = {
        "anonymousId",  # formats.md `context.traits`: not copied onto events
        "mp_device_model",  # formats.md `mp_device_model`: `$model` only
        "$insert_id",  # formats.md `$insert_id`: an id derived from a messageId over 36 characters
    }
    assert {k: v for k, v in properties.items() if k in reference and k not in different} == {
        k: v for k, v in reference.items() if k not in different
    }
    assert "mp_device_model" not in properties
    assert "anonymousId" not in properties


@pytest.mark.parametrize(
    ("agent", "browser", "version", "os", "device"),
    [  # Segment Actions' cases (utils.test.ts), with the `$os` and `$device` mixpanel-js gives them
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 "
            "Safari/537.36",
            "Chrome",
            "117.0.0.0",
            "Windows",
            None,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
            "Safari/605.1.15",
            "Safari",
            "17.0",
            "Mac OS X",
            None,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari",
            "17.0",
            "iOS",
            "iPhone",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 "
            "Safari/537.36 Edg/117.0.2045.60",
            "Microsoft Edge",
            "117.0.2045.60",
            "Windows",
            None,
        ),
    ],
)
def test_a_user_agent_names_the_browser_as_segments_destination_does(
    sink: MixpanelSink,
    token_env: Callable[..., None],
    context: Any,
    agent: str,
    browser: str,
    version: str,
    os: str,
    device: str | None,
) -> None:
    track = {"type": "track", "event": "Viewed", "userId": "u-1", "messageId": "m-1", "context": {"userAgent": agent}}

    forward(context, track, {**track, "messageId": "m-2", "properties": {"$browser": "my own"}})

    mine, theirs = sorted(sink.events, key=lambda event: event["properties"]["$insert_id"])
    found = {name: mine["properties"].get(name) for name in ("$browser", "$browser_version", "$os", "$device")}
    assert found == {"$browser": browser, "$browser_version": version, "$os": os, "$device": device}
    assert theirs["properties"]["$browser"] == "my own"  # a property of the call's own wins, as in Actions


def test_identify_renames_every_spelling_of_a_name_and_places_the_user_where_the_context_says(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    identify = {
        "type": "identify",
        "userId": "u-7",
        "messageId": "m-7",
        "timestamp": "2026-11-30T05:00:00.123Z",
        "traits": {"first_name": "Ann", "lastname": "Lee", "userName": "ann", "email": "", "state": "Île-de-France"},
        "context": {
            "ip": "203.0.113.9",
            "location": {"city": "Paris", "country": "FR", "latitude": 48.85, "longitude": 2.35, "timezone": "CET"},
        },
    }

    forward(context, identify)

    [update] = sink.updates
    # RudderStack's names for each (MPIdentifyConfig.json, GenericFieldMapping.json); "" is no value.
    assert update.value == {
        "$first_name": "Ann",
        "$last_name": "Lee",
        "$name": "Ann Lee",
        "$username": "ann",
        "$region": "Île-de-France",
        "$city": "Paris",
        "$country_code": "FR",
        "$timezone": "CET",
    }
    # Mixpanel reads a profile's latitude and longitude "outside of the `$set` dictionary" (geolocation docs).
    assert update.hints == {"$latitude": 48.85, "$longitude": 2.35, "$time": 1796014800.123}


def test_a_mixpanel_group_update_keeps_the_time_it_carries(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any
) -> None:
    # mixpanel-python's `group_update` writes `$time` (seconds) into every group update it sends.
    update = {"$group_key": "company", "$group_id": "acme", "$set": {"plan": "pro"}, "$time": 1764000000.5}

    forward(context, copy.deepcopy(update))

    [received] = sink.updates
    assert received.hints == {"$time": 1764000000.5}
    assert sink.groups[("company", "acme")].properties == {"plan": "pro"}


def test_an_alias_without_previous_id_aliases_the_anonymous_id_and_one_of_itself_is_parked(
    sink: MixpanelSink, token_env: Callable[..., None], context: Any, dlq: str
) -> None:
    token_env(MIXPANEL_ID_MERGE="original", DEAD_LETTER_QUEUE_URL=dlq)
    alias = {"type": "alias", "userId": "u-1", "anonymousId": "a-1", "messageId": "m-1"}

    # RudderStack's alias: `previousId || anonymousId`, refused when it is userId (transform.js processAliasEvents)
    forward(context, alias, {**alias, "messageId": "m-2", "previousId": "u-1"})

    [event] = sink.events
    assert (event["event"], event["properties"]["distinct_id"], event["properties"]["alias"]) == (
        "$create_alias",
        "a-1",
        "u-1",
    )
    [parked] = parked_failures(dlq)
    assert (parked["field"], parked["event"]["messageId"]) == ("previousId", "m-2")
