"""Formats and transforms through the Forwarder, with a scripted sender (a seam of our own): messages a call makes
are numbered after it, filtered messages are counted and never reported or parked, two refusals of one call park
it once, and a message parked as sent is replayed without being transformed again."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from mixpanel_forwarder.forwarder import Forwarder, Result
from mixpanel_forwarder.model import State
from mixpanel_forwarder.replay_source import ReplaySource
from mixpanel_forwarder.sources import sqs
from mixpanel_forwarder.transform_rules import read_rules
from tests.conftest import FakeParker, FakeSender, make_settings
from tests.unit.test_forwarder import NOW, event, reported, sqs_invocation

KEY = "a-test-key-of-32-characters-long"
TRACK = {
    "type": "track",
    "event": "Signed In",
    "userId": "u1",
    "messageId": "m-1",
    "timestamp": "2025-11-24T16:00:00Z",
    "properties": {"plan": "pro"},
}
GROUP = {"type": "group", "userId": "u1", "groupId": "acme", "messageId": "m-2", "traits": {"name": "Acme"}}


def forwarder(
    sender: FakeSender, parker: FakeParker | None = None, token: str | None = "tok", **settings: Any
) -> Forwarder:
    transforms = settings.pop("transforms", None)
    base = make_settings(transforms=read_rules(json.dumps(transforms)) if transforms else None, **settings)
    assert base.credentials is not None
    credentials = base.credentials._replace(token=token, hash_key=KEY)
    return Forwarder(base._replace(credentials=credentials), sender=sender, parker=parker, clock=lambda: NOW)


def run(bodies: list[Any], sender: FakeSender, parker: FakeParker | None = None, **settings: Any) -> Result:
    return forwarder(sender, parker, **settings).forward(sqs, sqs_invocation(*bodies), None)


def test_a_call_that_makes_two_messages_numbers_the_second_after_it_and_the_record_reads_on() -> None:
    sender = FakeSender()
    # One record: a Segment group call (a group update and the user's membership), then a Mixpanel event.
    result = run([[GROUP, event(1)], TRACK], sender)

    assert reported(result) == []
    ledger = result.ledger
    assert (ledger.record_of, sorted(ledger.extra)) == ([0, 0, 0, 1], [1])
    assert [ledger.item_position(index) for index in range(4)] == [0, 0, 1, 0]
    assert [ledger.kind(index).value for index in range(4)] == ["group", "user", "event", "event"]
    assert [e["event"] for request in sender.sent_to("/import") for e in request] == ["E1", "Signed In"]
    assert [u["$union"] for request in sender.sent_to("/engage") for u in request] == [{"$group_id": ["acme"]}]
    counts = result.counts()
    assert (counts["events"], counts["user_updates"], counts["group_updates"]) == (2, 1, 1)


def test_two_refusals_of_one_call_park_it_once_as_it_arrived() -> None:
    parker = FakeParker()
    result = run([GROUP], FakeSender(), parker, token=None)  # no token: both updates refused

    assert reported(result) == []
    [parked] = parker.messages
    assert parked["event"] == GROUP
    assert (parked["kind"], parked["field"]) == ("group", "$token")
    assert result.counts()["user_updates_parked"] == result.counts()["group_updates_parked"] == 1


def test_filtered_messages_are_counted_by_rule_and_never_sent_reported_or_parked() -> None:
    sender, parker = FakeSender(), FakeParker()
    transforms = {"drop_events": ["Heart*"], "drop_properties": ["secret"]}
    heartbeat = event(2)
    heartbeat["event"] = "Heartbeat"
    secret_only = {"$distinct_id": "u1", "$set": {"secret": "x"}}
    result = run(
        [event(1), heartbeat, {**TRACK, "event": "Heartbeat"}, secret_only], sender, parker, transforms=transforms
    )

    assert reported(result) == []
    assert parker.messages == []
    assert [e["event"] for e in sender.sent_events] == ["E1"]
    assert sender.sent_to("/engage") == []
    counts = result.counts()
    assert (counts["filtered"], counts["user_updates_filtered"], counts["imported"]) == (2, 1, 1)
    assert result.summary()["filtered_by"] == {"drop_events": 2, "drop_properties": 1}
    assert bytes(result.ledger.states).count(State.FILTERED) == 3


def test_the_common_path_and_the_general_path_transform_alike() -> None:
    sender = FakeSender()
    transforms = {"rename_properties": {"mail": "$email"}, "hash_properties": ["$email"], "add_properties": {"p": 1}}
    common = event(1, mail="a@b.c")
    flat = {"event": "E2", "time": 1_764_000_002, "distinct_id": "u2", "mail": "a@b.c"}  # lifted: the general path
    run([common, flat, {**TRACK, "properties": {"mail": "a@b.c"}}], sender, transforms=transforms)

    digest = hmac.new(KEY.encode(), b"a@b.c", hashlib.sha256).hexdigest()
    assert [
        (e["properties"]["$email"], e["properties"]["p"], "mail" in e["properties"]) for e in sender.sent_events
    ] == [(digest, 1, False)] * 3


def test_a_message_parked_as_sent_is_replayed_without_its_transforms_or_format_again() -> None:
    transforms = {"hash_properties": ["$email"], "add_properties": {"p": 1}}
    properties = {"time": 1_764_000_001_000, "distinct_id": "u1", "$email": "0" * 64, "$insert_id": "abc123456789"}
    parked_as_sent = {
        "reason": "refused",
        "source": {},
        "event": {"event": "E1", "properties": {**properties, "ip": 0}},
    }
    arrived = {"reason": "invalid", "source": {"item": "sqs:m9"}, "event": {**TRACK, "properties": {"$email": "a@b.c"}}}
    sender = FakeSender()
    replayer = forwarder(sender, transforms=transforms, payload_format="segment")
    result = replayer.forward(ReplaySource(), [parked_as_sent, arrived], None)

    assert reported(result) == []
    sent, replayed = sender.sent_events
    assert sent == parked_as_sent["event"]  # as it was sent: not hashed twice, and no Segment message needed
    assert replayed["properties"]["$email"] == hmac.new(KEY.encode(), b"a@b.c", hashlib.sha256).hexdigest()


def test_a_made_event_of_1_mib_after_another_message_of_its_record_is_parked_as_it_arrived() -> None:
    sender, parker = FakeSender(), FakeParker()
    huge = {**TRACK, "messageId": "m-big", "properties": {"blob": "x" * (1024 * 1024)}}
    # One record: a group call (two messages), then the huge track: the run cannot hold it, so it is routed
    # again from its record, found past the group call's second message.
    result = run([[GROUP, huge, event(1)]], sender, parker)

    assert reported(result) == []
    ledger = result.ledger
    assert (ledger.record_of, sorted(ledger.extra)) == ([0, 0, 0, 0], [1])
    [parked] = parker.messages
    assert parked["event"] == huge  # as it arrived: the Segment message
    assert (parked["field"], "over Mixpanel's 1 MiB per event" in parked["reason"]) == ("event", True)
    assert [e["event"] for request in sender.sent_to("/import") for e in request] == ["E1"]
    assert result.counts()["parked"] == 1


def test_a_made_event_with_an_integer_beyond_64_bits_is_read_exactly_and_refused_naming_it() -> None:
    parker = FakeParker()
    big = '"pro", "big": 123456789012345678901234'  # JSON allows it; 64 bits do not hold it
    body = json.dumps({**TRACK, "properties": {"plan": "pro"}}).replace('"pro"', big)
    result = run([body], FakeSender(), parker)

    assert reported(result) == []
    [parked] = parker.messages
    assert parked["field"] == "properties.big"
    # Not writable back as JSON by the encoder: the Lambda record it came from, whose body holds its exact text.
    assert "123456789012345678901234" in parked["record"]["body"]
    assert parked["source"]["item"] == "sqs:m0:0"


def test_firehose_style_newline_delimited_segment_messages_are_read_like_any_other() -> None:
    sender = FakeSender()
    body = "\n".join(json.dumps(message) for message in (TRACK, GROUP, {**TRACK, "messageId": "m-3"})) + "\n"
    result = run([body], sender)

    assert reported(result) == []
    assert [e["properties"]["$insert_id"] for request in sender.sent_to("/import") for e in request] == ["m-1", "m-3"]
    assert (len(sender.sent_to("/groups")[0]), len(sender.sent_to("/engage")[0])) == (1, 1)
