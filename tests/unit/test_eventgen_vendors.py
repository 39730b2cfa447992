"""The Segment, RudderStack and Amplitude factories make messages in their vendors' shapes, and the sample files
carry them as documented."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

from localdev.eventgen import (
    SEGMENT_EVENT_SOURCE,
    amplitude_events,
    anonymous_id,
    eventbridge_envelope,
    rudderstack_messages,
    segment_calls,
)
from tests.unit.test_eventgen import UUID_LIKE, load_sample

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
AMPLITUDE_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def kinesis_messages(name: str) -> list[dict[str, Any]]:
    return [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in load_sample(name)["Records"]]


def test_segment_calls_are_one_of_each_with_segments_common_fields() -> None:
    calls = segment_calls(10)
    assert [call["type"] for call in calls] == ["page", "track", "screen", "identify", "group", "alias"]
    for call in calls:
        assert "userId" in call or "anonymousId" in call
        assert call["messageId"]
        for field in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
            assert ISO_MS.fullmatch(call[field]), field
        assert call["originalTimestamp"] < call["timestamp"] < call["sentAt"] < call["receivedAt"]
        assert call["context"]["library"]["name"]
    page, track, screen, identify, group, alias = calls
    assert "userId" not in page  # an anonymous visitor
    assert page["anonymousId"] == track["anonymousId"] == alias["previousId"] == anonymous_id(10)
    assert len(track["messageId"]) > 36  # analytics.js: "ajs-next-" and 32 hex, too long for Mixpanel's rule
    assert len(screen["messageId"]) == 36
    assert identify["traits"]["email"]
    assert group["groupId"] == "company-10"
    assert alias["userId"] == track["userId"]
    assert segment_calls(10) == calls
    assert segment_calls(11)[1]["messageId"] != track["messageId"]


def test_rudderstack_messages_carry_rudderstacks_own_fields() -> None:
    messages = rudderstack_messages(20)
    assert [m["type"] for m in messages] == ["page", "track", "track", "identify"]
    for message in messages:
        assert message["channel"] in ("web", "server", "mobile")
        assert re.fullmatch(r"\d{13}-[0-9a-f-]{36}", message["messageId"])
        assert UUID_LIKE.fullmatch(message["rudderId"])
        assert re.fullmatch(r"192\.0\.2\.\d+", message["request_ip"])
        assert message["integrations"] == {"All": True}
    assert "traits" not in messages[3]
    assert messages[3]["context"]["traits"]["email"]  # RudderStack's JavaScript SDK keeps them there


def test_amplitude_events_are_export_json() -> None:
    events = amplitude_events(30)
    assert [e["event_type"] for e in events] == ["Song Played", "Workout Saved", "Plan Upgraded", "$identify"]
    for event in events:
        for field in ("event_time", "client_event_time", "server_upload_time", "processed_time"):
            assert AMPLITUDE_TIME.fullmatch(event[field]), field
        datetime.fromisoformat(event["event_time"])
        assert UUID_LIKE.fullmatch(event["uuid"])
        assert event["device_id"]
    assert events[1]["user_id"] is None
    assert events[1]["ip_address"] is None
    assert events[2]["$insert_id"] is None


def test_eventbridge_envelope_names_a_partner_source() -> None:
    envelope = json.loads(eventbridge_envelope({"type": "track"}, detail_type="track", source=SEGMENT_EVENT_SOURCE))
    assert envelope["source"].startswith("aws.partner/segment.com/")
    assert envelope["detail-type"] == "track"


def test_vendor_samples_hold_the_documented_messages() -> None:
    direct = [json.loads(r["body"]) for r in load_sample("sqs-segment.json")["Records"]]
    assert [m["type"] for m in direct] == ["page", "track", "screen", "identify", "group", "alias"]
    bridged = [json.loads(r["body"]) for r in load_sample("sqs-segment-eventbridge.json")["Records"]]
    assert [(e["detail-type"], e["source"]) for e in bridged] == [(m["type"], SEGMENT_EVENT_SOURCE) for m in direct]
    assert [e["detail"]["type"] for e in bridged] == [m["type"] for m in direct]
    assert {e["detail"]["messageId"] for e in bridged}.isdisjoint(m["messageId"] for m in direct)
    assert [m["type"] for m in kinesis_messages("kinesis-rudderstack.json")] == ["page", "track", "track", "identify"]
    assert [e["event_type"] for e in kinesis_messages("kinesis-amplitude.json")][-1] == "$identify"
