"""What stays parked of a replayed document of which some messages landed: the replay through the Forwarder with a
scripted sender (a seam of our own), then `remainders` on its ledger, stored by a fake parker."""

from __future__ import annotations

import json
from typing import Any

from mixpanel_forwarder.replay_remainder import remainders
from mixpanel_forwarder.replay_source import ReplaySource
from tests.conftest import FakeParker, FakeSender, verbose_ok, verbose_refused
from tests.unit.test_format_delivery import forwarder
from tests.unit.test_forwarder import reported

ADD = {"$distinct_id": "u1", "$add": {"n": 1}}
SET = {"$distinct_id": "u2", "$set": {"plan": "pro"}}
IDENTIFY = {"event_type": "$identify", "user_id": "u1", "user_properties": {"$set": {"plan": "pro"}, "$add": {"n": 1}}}
ORIGIN = {"eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "messageId": "m0"}


def rest_of(documents: list[dict[str, Any]], sender: FakeSender, **settings: Any) -> dict[int, list[dict[str, Any]]]:
    """The documents parked in place of each replayed one (one update per request: the sender answers each)."""
    replayer = forwarder(sender, profile_batch_max_updates=1, **settings)
    rules = replayer.settings.mapping_rules()
    source = ReplaySource(rules)
    result = replayer.forward(source, documents, None)
    _, records = source.source_records(documents)
    failed = [int(name[1:]) for name in reported(result)]
    rests = remainders(result.ledger, records, failed, rules, source.decode)
    out = {}
    for number, rest in rests.items():
        parker = FakeParker()
        assert parker.park(rest) == [True] * len(rest)
        out[number] = parker.messages
    return out


def test_a_shared_document_keeps_only_its_entries_that_did_not_land() -> None:
    shared = {
        "source": ORIGIN,
        "events": [
            {"reason": "no token", "kind": "user", "item": "sqs:m0:0", "event": ADD},
            {"reason": "no token", "kind": "user", "item": "sqs:m0:1", "event": SET},
        ],
    }
    # The $add's request is refused, the $set's taken
    rests = rest_of([shared], FakeSender(verbose_refused("nope")))

    assert rests == {
        0: [{"reason": "no token", "kind": "user", "source": {**ORIGIN, "item": "sqs:m0:0"}, "event": ADD}]
    }


def test_an_item_of_which_one_message_landed_names_the_other_and_the_settings_that_made_its_key() -> None:
    document = {"reason": "no token", "kind": "user", "source": {**ORIGIN, "item": "sqs:m0:0"}, "event": IDENTIFY}
    rests = rest_of([document], FakeSender(verbose_refused("nope")), payload_format="amplitude")

    assert rests == {
        0: [{**document, "source": {**document["source"], "messages": ["sqs:m0:0/$set"], "rules": ["PAYLOAD_FORMAT"]}}]
    }


def test_a_document_nothing_of_which_landed_stays_as_it_is() -> None:
    document = {"reason": "no token", "kind": "user", "source": {**ORIGIN, "item": "sqs:m0:0"}, "event": IDENTIFY}
    refused = verbose_refused("nope")

    assert rest_of([document], FakeSender(refused, refused)) == {}


def test_a_record_parked_whole_becomes_a_record_document_per_item_that_did_not_land() -> None:
    # Parked whole (it could not be decoded then): now its first item lands, and of its second the $set does not
    body = json.dumps([ADD, IDENTIFY])
    record = {"messageId": "m0", "body": body, "eventSourceARN": ORIGIN["eventSourceARN"]}
    document = {"reason": "not JSON", "field": "record", "source": ORIGIN, "record": record}

    rests = rest_of([document], FakeSender(verbose_ok([]), verbose_refused("nope")))

    assert rests == {
        0: [
            {
                "reason": "not JSON",
                "field": "record",
                "source": {**ORIGIN, "item": "sqs:m0:1", "messages": ["sqs:m0:1/$set"]},
                "record": record,
            }
        ]
    }
