"""What a parked document tells a replay, and the replay doing it, through the Forwarder with a scripted sender (a
seam of our own): an item that made several messages names the refused ones (`source.messages`), and a replay makes
those alone; a message parked before sending names the settings that mapped it (`source.rules`), and a replay
without them refuses it whole, sending nothing of it."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mixpanel_forwarder.errors import ConfigError, ForwarderError
from mixpanel_forwarder.forwarder import Result
from mixpanel_forwarder.replay import function_settings
from mixpanel_forwarder.replay_source import ReplaySource
from tests.conftest import BASE_ENV, FakeParker, FakeSender
from tests.unit.test_format_delivery import GROUP, KEY, forwarder, run
from tests.unit.test_forwarder import reported

TOO_DEEP = {"a": {"b": {"c": {"d": 1}}}}  # Mixpanel takes three levels of nesting
IDENTIFY = {
    "event_type": "$identify",
    "user_id": "u1",
    "event_time": "2025-11-24 16:00:00.000000",
    "user_properties": {"$add": {"logins": 1}, "$set": {"plan": "pro", "address": TOO_DEEP}},
}
PLAY = {
    "event_type": "Song Played",
    "user_id": "u1",
    "event_time": "2025-11-24 16:00:00.000000",
    "user_properties": {"plan": "pro"},
}


def replay(documents: list[dict[str, Any]], sender: FakeSender, **settings: Any) -> Result:
    replayer = forwarder(sender, **settings)
    return replayer.forward(ReplaySource(replayer.settings.mapping_rules()), documents, None)


def updates(sender: FakeSender, path: str = "/engage") -> list[dict[str, Any]]:
    return [update for request in sender.sent_to(path) for update in request]


def test_an_amplitude_identify_with_one_refused_operation_parks_it_naming_that_operation_alone() -> None:
    sender, parker = FakeSender(), FakeParker()
    result = run([IDENTIFY], sender, parker)

    assert reported(result) == []
    assert [update["$add"] for update in updates(sender)] == [{"logins": 1}]  # imported
    [parked] = parker.messages
    assert (parked["field"], parked["kind"], parked["event"]) == ("$set.address.a.b.c", "user", IDENTIFY)
    item = parked["source"]["item"]
    assert parked["source"]["messages"] == [f"{item}/$set"]
    assert "rules" not in parked["source"]  # every mapping setting at its default


def test_an_add_that_is_not_a_number_is_named_alone_and_replayed_without_the_set_that_landed() -> None:
    identify = {**IDENTIFY, "user_properties": {"$set": {"plan": "pro"}, "$add": {"logins": "one"}}}
    sender, parker = FakeSender(), FakeParker()
    run([identify], sender, parker)

    assert [update["$set"] for update in updates(sender)] == [{"plan": "pro"}]
    [parked] = parker.messages
    assert (parked["field"], parked["source"]["messages"]) == ("$add.logins", [parked["source"]["item"] + "/$add"])
    parked["event"]["user_properties"]["$add"]["logins"] = 1  # fixed by hand
    sender = FakeSender()
    replayed = replay([parked], sender)

    assert reported(replayed) == []
    assert [update.get("$add") for update in updates(sender)] == [{"logins": 1}]  # no $set sent again


def test_a_replay_of_that_identify_makes_the_refused_operation_alone_and_never_the_imported_add() -> None:
    parker = FakeParker()
    run([IDENTIFY], FakeSender(), parker)
    [parked] = parker.messages

    sender = FakeSender()
    again = replay([parked], sender)  # refused again, for the same reason: nothing is sent

    assert updates(sender) == []
    assert reported(again) == ["p0"]
    assert again.ledger.reasons() == {"$set.address.a.b.c: nests deeper than 3 levels": 1}
    fixed = copy.deepcopy(parked)
    fixed["event"]["user_properties"]["$set"]["address"] = "1 Main St"  # the cause fixed by hand
    replayed = replay([fixed], sender)

    assert reported(replayed) == []
    [sent] = updates(sender)  # the $set alone: no $add
    assert (sent["$distinct_id"], sent["$set"], "$add" in sent) == (
        "u1",
        {"plan": "pro", "address": "1 Main St"},
        False,
    )


def test_a_segment_group_call_whose_group_update_is_refused_replays_it_without_the_membership_again() -> None:
    sender, parker = FakeSender(), FakeParker()
    group = {**GROUP, "traits": {"name": "Acme", "deep": TOO_DEEP}}
    run([group], sender, parker)

    assert [update["$union"] for update in updates(sender)] == [{"$group_id": ["acme"]}]  # the membership: imported
    [parked] = parker.messages
    assert parked["kind"] == "group"
    assert parked["source"]["messages"] == [parked["source"]["item"]]  # the group update: the item's own key
    fixed = copy.deepcopy(parked)
    fixed["event"]["traits"]["deep"] = "shallow"
    sender = FakeSender()
    replayed = replay([fixed], sender)

    assert reported(replayed) == []
    assert updates(sender) == []  # the membership is not sent again
    assert [update["$set"] for update in updates(sender, "/groups")] == [{"$name": "Acme", "deep": "shallow"}]


def test_two_refusals_of_one_call_name_no_messages_and_replay_both() -> None:
    parker = FakeParker()
    run([GROUP], FakeSender(), parker, token=None)  # no token: both updates refused, parked once
    [parked] = parker.messages
    assert "messages" not in parked["source"]

    sender = FakeSender()
    replayed = replay([parked], sender)

    assert reported(replayed) == []
    assert (len(updates(sender, "/groups")), len(updates(sender))) == (1, 1)


def test_a_group_identify_naming_two_ids_under_one_key_names_the_refused_one_alone_and_replays_it_alone() -> None:
    # "undefined" is a placeholder Mixpanel refuses: that group's update is parked, acme's imported
    record = {
        "event_type": "$groupidentify",
        "user_id": "u1",
        "groups": {"company": ["acme", "undefined"]},
        "group_properties": {"seats": 300},
    }
    sender, parker = FakeSender(), FakeParker()
    run([record], sender, parker)
    assert [update["$group_id"] for update in updates(sender, "/groups")] == ["acme"]
    [parked] = parker.messages
    assert len(parked["source"]["messages"]) == 1

    sender = FakeSender()
    again = replay([parked], sender)  # replayed as parked: the refused update alone, refused again
    assert reported(again) == ["p0"]
    assert updates(sender, "/groups") == []  # acme's update, imported, is not sent again
    assert again.ledger.reasons() == {"$group_id: 'undefined' is a placeholder Mixpanel refuses": 1}
    fixed = copy.deepcopy(parked)
    fixed["event"]["groups"]["company"][1] = "globex"  # the producer fixed: the refused id is a real one now
    replayed = replay([fixed], sender)

    assert reported(replayed) == []
    assert [update["$group_id"] for update in updates(sender, "/groups")] == ["globex"]


def test_an_amplitude_event_whose_profile_update_is_refused_names_it_and_the_setting_that_made_it() -> None:
    sender, parker = FakeSender(), FakeParker()
    run([PLAY], sender, parker, token=None, amplitude_user_properties=True)

    assert [event["event"] for event in sender.sent_events] == ["Song Played"]
    [parked] = parker.messages
    assert parked["field"] == "$token"
    assert parked["source"]["messages"] == [parked["source"]["item"] + "/user"]
    assert parked["source"]["rules"] == ["AMPLITUDE_USER_PROPERTIES"]

    sender = FakeSender()
    replayed = replay([parked], sender, amplitude_user_properties=True)

    assert reported(replayed) == []
    assert sender.sent_to("/import") == []  # the event was imported: not sent again
    assert [update["$set"] for update in updates(sender)] == [{"plan": "pro"}]


def test_a_replay_without_a_setting_the_message_was_mapped_by_refuses_it_whole_naming_the_setting() -> None:
    parker = FakeParker()
    run([PLAY], FakeSender(), parker, token=None, amplitude_user_properties=True)
    [parked] = parker.messages

    sender = FakeSender()
    replayed = replay([parked], sender)  # AMPLITUDE_USER_PROPERTIES unset

    assert reported(replayed) == ["p0"]
    assert sender.requests == []
    [reason] = replayed.ledger.reasons()
    assert reason.startswith("record: parked under AMPLITUDE_USER_PROPERTIES, which this replay does not have")
    assert "--function" in reason


def test_an_update_parked_for_a_missing_token_is_not_replayed_without_the_transforms_that_hash_it() -> None:
    transforms = {"hash_properties": ["$email"]}
    update = {"$distinct_id": "u1", "$set": {"$email": "ada@example.com"}}
    parker = FakeParker()
    run([update], FakeSender(), parker, token=None, transforms=transforms)
    [parked] = parker.messages
    assert parked["source"]["rules"] == ["TRANSFORMS"]

    sender = FakeSender()
    refused = replay([parked], sender)
    hashed = replay([parked], sender, transforms=transforms)

    assert (reported(refused), reported(hashed)) == (["p0"], [])
    assert "TRANSFORMS" in next(iter(refused.ledger.reasons()))
    [sent] = updates(sender)  # the replay with the rules only
    assert sent["$set"] == {"$email": hmac.new(KEY.encode(), b"ada@example.com", hashlib.sha256).hexdigest()}


def test_a_named_message_the_replay_no_longer_makes_refuses_the_item_instead_of_dropping_it() -> None:
    # Parked (by hand, or before documents named their rules) for an Amplitude event's profile update; replayed
    # where AMPLITUDE_USER_PROPERTIES does not make one.
    document = {"reason": "x", "source": {"item": "sqs:m0", "messages": ["sqs:m0/user"]}, "event": PLAY}
    sender = FakeSender()
    replayed = replay([document], sender)

    assert reported(replayed) == ["p0"]
    assert sender.requests == []
    [reason] = replayed.ledger.reasons()
    assert reason.startswith("source.messages: names 1 message(s) of this item, and not all of them are made")


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ({"item": "sqs:m0", "messages": "sqs:m0/user"}, "source.messages must be a non-empty list"),
        ({"item": "sqs:m0", "messages": []}, "source.messages must be a non-empty list"),
        ({"item": "sqs:m0", "rules": "TRANSFORMS"}, "source.rules must be a list"),
    ],
)
def test_coordinates_that_are_not_lists_refuse_the_document(source: dict[str, Any], says: str) -> None:
    sender = FakeSender()
    replayed = replay([{"reason": "x", "source": source, "event": PLAY}], sender)

    assert reported(replayed) == ["p0"]
    assert sender.requests == []
    assert says in next(iter(replayed.ledger.reasons()))


GOOD = {
    "reason": "x",
    "source": {"item": "sqs:g:0"},
    "event": {"event": "Good", "properties": {"distinct_id": "u", "time": 1_764_000_000}},
}
UPDATE = {"$distinct_id": "u1", "$set": {"$email": "ada@example.com"}}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([GOOD], "a parked document is a JSON object"),
        ({"reason": "x", "source": ["m0"], "event": PLAY}, "source must be an object"),
        ({"source": {}, "events": {"event": PLAY}}, "events must be a non-empty list of objects"),
        ({"source": {}, "events": ["x"]}, "events must be a non-empty list of objects"),
        ({"source": {}, "events": [{"reason": "x", "item": "sqs:m0:0"}]}, "events[0] has no event"),
        ({"reason": "x", "source": {"item": "sqs:m0:0", "defaultTimeMs": "soon"}, "event": PLAY}, "defaultTimeMs"),
        ({"reason": "x", "source": {"item": "sqs:m0:0", "defaultTimeMs": True}, "event": PLAY}, "defaultTimeMs"),
        # An item key that is no string would pass for a message parked as sent: its TRANSFORMS skipped
        ({"reason": "x", "source": {"item": 7, "rules": ["TRANSFORMS"]}, "event": UPDATE}, "source.item"),
        ({"reason": "x", "source": {}, "record": {"base64": "AAAA"}}, "kept as the base64 of its bytes"),
    ],
)
def test_a_document_edited_or_cut_short_is_kept_saying_why_and_the_others_are_replayed(
    document: Any, says: str
) -> None:
    sender = FakeSender()
    replayed = replay([GOOD, document], sender)

    assert reported(replayed) == ["p1"]
    assert [[message.get("event") for message in request] for request in sender.requests] == [["Good"]]
    [reason] = replayed.ledger.reasons()
    assert says in reason


def test_a_record_parked_in_place_of_one_of_its_messages_replays_that_message_alone() -> None:
    # The record's first item was imported; of its second, an identify, the $add was imported and the $set refused,
    # and could not be written back as JSON, so the record stands in for it.
    identify = {**IDENTIFY, "user_properties": {"$add": {"logins": 1}, "$set": {"plan": "pro"}}}
    body = json.dumps([{"event": "E0", "properties": {"distinct_id": "u0", "time": 1_764_000_000}}, identify])
    document = {
        "reason": "x",
        "source": {"messageId": "m0", "item": "sqs:m0:1", "messages": ["sqs:m0:1/$set"]},
        "record": {"messageId": "m0", "body": body, "eventSourceARN": "arn:aws:sqs:us-east-1:1:q"},
    }
    sender = FakeSender()
    replayed = replay([document], sender)

    assert reported(replayed) == []
    assert sender.sent_to("/import") == []
    assert [update["$set"] for update in updates(sender)] == [{"plan": "pro"}]


def test_a_record_parked_for_an_id_beyond_64_bits_replays_once_fixed_with_the_id_exact() -> None:
    # An identify whose user_id is an integer beyond 64 bits (valid: sent as its digits) and whose $add is refused: no
    # JSON writer keeps the id, so the record stands in for the message
    user_id = 2**70
    identify = {**IDENTIFY, "user_properties": {"$set": {"plan": "pro"}, "$add": {"logins": "one"}}}
    body = json.dumps({**identify, "user_id": user_id})
    parker = FakeParker()
    run([body], FakeSender(), parker)
    [parked] = parker.messages
    assert "record" in parked
    parked["record"]["body"] = parked["record"]["body"].replace('"one"', "1")  # the cause fixed by hand

    sender = FakeSender()
    replayed = replay([parked], sender)

    assert reported(replayed) == []
    [sent] = updates(sender)  # the $add alone, to the user whose id is exact
    assert (sent["$distinct_id"], sent["$add"]) == (str(user_id), {"logins": 1})


class FakeLambda:
    """The Lambda client's one call the replay makes, answering from a script (a seam of our own)."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:  # boto3's keyword
        self.asked.append(FunctionName)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_settings_of_a_function_are_its_environment() -> None:
    variables = {**BASE_ENV, "TRANSFORMS": '{"drop_events": ["Heartbeat"]}', "DEAD_LETTER_QUEUE_URL": "https://q"}
    client = FakeLambda({"FunctionName": "fwd", "Environment": {"Variables": variables}})

    settings = function_settings("fwd", client)

    assert client.asked == ["fwd"]
    assert (settings.mapping_rules(), settings.dead_letter_queue_url) == (("TRANSFORMS",), "https://q")


def test_a_function_whose_configuration_is_denied_is_named_in_one_line() -> None:
    error = {"Code": "AccessDeniedException", "Message": "not authorized to perform: lambda:GetFunctionConfiguration"}
    client = FakeLambda(ClientError({"Error": error}, "GetFunctionConfiguration"))

    with pytest.raises(ForwarderError) as raised:
        function_settings("fwd", client)

    message = str(raised.value)
    assert message.startswith("cannot read the settings of the function 'fwd' (lambda:GetFunctionConfiguration): ")
    assert "AccessDeniedException" in message
    assert "\n" not in message


def test_a_function_environment_the_settings_refuse_names_the_variable_and_the_function() -> None:
    client = FakeLambda({"Environment": {"Variables": {"MIXPANEL_REGION": "MARS"}}})

    with pytest.raises(ConfigError) as raised:
        function_settings("fwd", client)

    assert raised.value.variable == "MIXPANEL_REGION"
    assert "the function 'fwd'" in str(raised.value)
