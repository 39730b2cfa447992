"""The demo's part on payload formats and transforms: what the Segment, RudderStack and Amplitude samples became in
the sink (events and profiles), and the issue's seven TRANSFORMS rules on a small batch."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from localdev.demo_table import header
from localdev.eventgen import sqs_event, sqs_record
from localdev.sink import MixpanelSink, Profile

# Under original ID merge, alias and identify make Mixpanel's identity events; the Amplitude user properties a $set.
VENDOR_SETTINGS = {
    "sqs-segment.json": {"MIXPANEL_ID_MERGE": "original"},
    "sqs-segment-eventbridge.json": {"MIXPANEL_ID_MERGE": "original"},
    "kinesis-rudderstack.json": {},
    "kinesis-amplitude.json": {"AMPLITUDE_USER_PROPERTIES": "profile"},
}
# Shown for each event, when it has them: who, when, which insert id, and a few mapped properties.
SHOWN = ("distinct_id", "$user_id", "$device_id", "time", "$insert_id", "mp_lib", "$os", "ip", "utm_source", "$city")
SEVEN_RULES = {
    "drop_events": ["Heartbeat", "debug *"],
    "keep_events": [],
    "rename_events": {"signup": "Sign Up"},
    "drop_properties": ["password", "card_number"],
    "rename_properties": {"userEmail": "$email"},
    "hash_properties": ["$email", "phone"],
    "add_properties": {"pipeline": "kinesis-prod"},
}
DEMO_HASH_KEY = "demo-hash-key-not-a-secret-0001"  # in production: "hash_key" in the credentials secret


class Arrivals:
    """What one invocation added to the sink: made before it runs, `finish()` after; then `lines` show its events and
    the profiles it created or changed."""

    def __init__(self, sink: MixpanelSink) -> None:
        self.sink = sink
        self.events_before = len(sink.events)
        self.users_before = sink.users
        self.groups_before = sink.groups
        self.lines: list[str] = []

    def finish(self) -> None:
        sink = self.sink
        for event in sink.events[self.events_before :]:
            properties = event["properties"]
            shown = " ".join(f"{name}={json.dumps(properties[name])}" for name in SHOWN if name in properties)
            self.lines.append(f"    {event['event']}: {shown}")
        changed: list[tuple[str, object, Profile]] = [
            ("user", key, profile) for key, profile in sink.users.items() if self.users_before.get(key) != profile
        ]
        changed += [("group", key, p) for key, p in sink.groups.items() if self.groups_before.get(key) != p]
        for label, key, profile in changed:
            self.lines.append(f"    {label} profile {key}: {json.dumps(profile.properties)}")


def transform_messages() -> list[dict[str, Any]]:
    """A heartbeat, a debug event, a signup carrying personal data, and an ordinary event."""
    t = 1_764_000_000
    return [
        {"event": "Heartbeat", "properties": {"distinct_id": "svc-7", "time": t}},
        {"event": "debug cache miss", "properties": {"distinct_id": "svc-7", "time": t + 1, "key": "cart:41"}},
        {
            "event": "signup",
            "properties": {
                "distinct_id": "user-77",
                "time": t + 2,
                "userEmail": "ada@example.com",
                "phone": "+1-415-555-0100",
                "password": "hunter2",
                "card_number": "4111111111111111",
                "plan": "growth",
            },
        },
        {"event": "Checkout Started", "properties": {"distinct_id": "user-77", "time": t + 3, "amount": 129.0}},
    ]


def transform_batch() -> dict[str, Any]:
    """transform_messages(), one SQS record each."""
    return sqs_event([sqs_record(json.dumps(m), index=3000 + i) for i, m in enumerate(transform_messages())])


def show_transforms(run: Callable[[str, dict[str, Any], dict[str, str]], dict[str, Any]], sink: MixpanelSink) -> None:
    """The seven rules on transform_batch(): the invocation's row, then each message as it came in and as Mixpanel
    received it (renamed, personal data dropped or hashed with HMAC-SHA256, tagged), or the rule that filtered it."""
    print("\nTransforms: the seven rules on four messages, with TRANSFORM_HASH_KEY set (the key to hash with).")
    print(f"TRANSFORMS={json.dumps(SEVEN_RULES)}")
    print("\n".join(header()))
    before = len(sink.events)
    settings = {"TRANSFORMS": json.dumps(SEVEN_RULES), "TRANSFORM_HASH_KEY": DEMO_HASH_KEY}
    summary = run("4 messages, 7 rules", transform_batch(), settings)
    received = {event["properties"]["time"]: event for event in sink.events[before:]}
    rules = " or ".join(summary.get("filtered_by", {}))
    print("Each message as it came in, and as Mixpanel received it:")
    for message in transform_messages():
        event = received.get(message["properties"]["time"] * 1000)  # Mixpanel's time is in milliseconds
        print(f"  in:  {json.dumps(message)}")
        print(f"  out: {json.dumps(event)}" if event else f"  out: filtered by {rules}, counted and never sent")
