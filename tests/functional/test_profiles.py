"""Profile updates through the real handlers to the embedded sink's /engage and /groups over loopback: every kind of
answer, the profiles they leave, and order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import kinesis_event, kinesis_record, kpl_aggregate, sample_event, sqs_event, sqs_record
from localdev.sink import MixpanelSink
from mixpanel_forwarder import runtime
from tests.functional.conftest import load_event


def user(distinct_id: str | int, operation: str, value: Any) -> dict[str, Any]:
    return {"$distinct_id": distinct_id, operation: value}


def group(group_id: str | int, operation: str, value: Any) -> dict[str, Any]:
    return {"$group_key": "company_id", "$group_id": group_id, operation: value}


def sqs(*bodies: Any) -> dict[str, Any]:
    records = [
        sqs_record(body if isinstance(body, str) else json.dumps(body), index=i, sent_timestamp_ms=1_764_000_000_000)
        for i, body in enumerate(bodies)
    ]
    return sqs_event(records)


@pytest.fixture
def with_token(sink: MixpanelSink, forwarder_env: Callable[..., None]) -> MixpanelSink:
    forwarder_env(MIXPANEL_PROJECT_TOKEN=sink.token)
    return sink


def reasons() -> dict[str, int]:
    result = runtime.last_result()
    assert result is not None
    return dict(result.summary()["reasons"])


def test_a_mixed_batch_lands_each_kind_at_its_endpoint(with_token: MixpanelSink, context: Any) -> None:
    sink = with_token
    invocation = sqs(
        sample_event(1),
        user("u1", "$set", {"plan": "pro", "seats": 3}),
        [sample_event(2), user("u1", "$union", {"tags": ["a", "b"]}), group("42", "$set", {"name": "Acme"})],
        user("u2", "$set_once", {"first_seen": "2025-11-24"}),
        group("42", "$union", {"regions": ["eu"]}),
    )

    assert sqs_handler(invocation, context) == {"batchItemFailures": []}

    names = [sample_event(1)["event"], sample_event(2)["event"]]
    assert sorted(event["event"] for event in sink.events) == sorted(names)
    assert sink.users["u1"].properties == {"plan": "pro", "seats": 3, "tags": ["a", "b"]}
    assert sink.users["u2"].properties == {"first_seen": "2025-11-24"}
    assert sink.groups[("company_id", "42")].properties == {"name": "Acme", "regions": ["eu"]}
    assert {profile.ip for profile in sink.users.values()} == {"0"}  # no geolocation to the function's region


def test_a_kpl_aggregate_of_mixed_messages(with_token: MixpanelSink, context: Any) -> None:
    sink = with_token
    data = [json.dumps(message).encode() for message in (sample_event(5), user("k1", "$set", {"a": 1}))]
    invocation = kinesis_event([kinesis_record(kpl_aggregate(data), index=9, arrival_s=1_764_000_000.5)])

    assert kinesis_handler(invocation, context) == {"batchItemFailures": []}
    assert len(sink.events) == 1
    assert sink.users["k1"].properties == {"a": 1}


def test_a_200_with_status_0_is_split_until_what_was_refused_is_taken(with_token: MixpanelSink, context: Any) -> None:
    sink = with_token
    sink.reject_next()  # refuses the first update of the next request, takes the others
    updates = [user(f"u{n}", "$set", {"plan": "pro"}) for n in range(4)]

    assert sqs_handler(sqs(*updates), context) == {"batchItemFailures": []}

    assert {key: profile.properties for key, profile in sink.users.items()} == {
        f"u{n}": {"plan": "pro"} for n in range(4)
    }
    assert sink.stats()["engage"]["by_answer"] == {"0": 1, "1": 2}  # refused whole, then its halves taken


def test_a_400_from_engage_parks_no_update_and_reports_them_all(
    sink: MixpanelSink, forwarder_env: Callable[..., None], context: Any, dlq: str
) -> None:
    # A gateway in front of Mixpanel answers 400 for its own reasons; Mixpanel documents none for /engage.
    forwarder_env(MIXPANEL_PROJECT_TOKEN=sink.token, DEAD_LETTER_QUEUE_URL=dlq, PROFILE_BATCH_MAX_UPDATES="1")
    sink.fail_next(400, body=b"<html><body><h1>400 Bad Request</h1></body></html>", endpoint="/engage")
    invocation = sqs(user("u1", "$set", {"plan": "pro"}), user("u2", "$set", {"plan": "pro"}))
    for record in invocation["Records"]:  # sent a moment ago: one near its queue's retention end is parked whole
        record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000))

    response = sqs_handler(invocation, context)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in invocation["Records"]]
    }
    assert boto3.client("sqs").receive_message(QueueUrl=dlq).get("Messages", []) == []  # nothing parked
    assert sink.stats()["engage"]["requests"] == 1  # nothing more sent after it
    assert sink.users == {}
    assert any(reason.startswith("Mixpanel answered 400") for reason in reasons())


def test_after_a_status_0_the_updates_resent_are_counted_not_those_held_back(
    sink: MixpanelSink, forwarder_env: Callable[..., None], context: Any
) -> None:
    forwarder_env(MIXPANEL_PROJECT_TOKEN=sink.token, MAX_ATTEMPTS="2")
    sink.reject_next(endpoint="/engage")  # status 0 for u1's $set; the two $add are applied
    sink.fail_next(503, 2, endpoint="/engage")  # the first half, u1's $set alone, is never delivered
    invocation = sqs(user("u1", "$set", {"plan": "pro"}), user("u2", "$add", {"n": 1}), user("u1", "$add", {"n": 1}))

    response = sqs_handler(invocation, context)

    # u1's $set, and its $add held back with it (never sent again), are reported; u2's $add is resent, applied twice.
    assert [failure["itemIdentifier"] for failure in response["batchItemFailures"]] == [
        invocation["Records"][0]["messageId"],
        invocation["Records"][2]["messageId"],
    ]
    assert (sink.users["u1"].properties, sink.users["u2"].properties) == ({"n": 1}, {"n": 2})
    result = runtime.last_result()
    assert result is not None
    assert result.delivery.resent_not_idempotent == 1


@pytest.mark.parametrize(
    "fault",
    [
        lambda sink: sink.unconfirmed_next(miscount=True),  # a bare "1": not the verbose answer
        lambda sink: sink.unconfirmed_next(),  # a portal's page
        lambda sink: sink.fail_next(503, 2),
        lambda sink: sink.fail_next(429, 1, retry_after="0"),
        lambda sink: sink.reset_next(),
        lambda sink: sink.drip_next(0.01),
    ],
)
def test_a_transient_answer_is_retried_and_the_update_applied(
    with_token: MixpanelSink, context: Any, fault: Callable[[MixpanelSink], None]
) -> None:
    sink = with_token
    fault(sink)

    assert sqs_handler(sqs(user("u1", "$set", {"plan": "pro"})), context) == {"batchItemFailures": []}
    assert sink.users["u1"].properties == {"plan": "pro"}


def test_413_splits_a_profile_request(sink: MixpanelSink, forwarder_env: Callable[..., None], context: Any) -> None:
    forwarder_env(MIXPANEL_PROJECT_TOKEN=sink.token)
    sink.fail_next(413)

    assert sqs_handler(sqs(*(user(f"u{n}", "$set", {"n": n}) for n in range(3))), context) == {"batchItemFailures": []}
    assert sorted(sink.users) == ["u0", "u1", "u2"]


def test_without_a_token_updates_are_reported_naming_the_setting_and_events_land(
    sink: MixpanelSink, forwarder_env: Callable[..., None], context: Any
) -> None:
    invocation = sqs(sample_event(1), user("u1", "$set", {"plan": "pro"}))

    response = sqs_handler(invocation, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": invocation["Records"][1]["messageId"]}]}
    assert len(sink.events) == 1
    assert sink.users == {}
    [reason] = reasons()
    assert reason.startswith("$token: ")
    assert "MIXPANEL_PROJECT_TOKEN" in reason


@pytest.mark.parametrize(
    ("first", "then", "expected"),
    [
        (("$set", {"plan": "pro"}), ("$unset", ["plan"]), {}),
        (("$unset", ["plan"]), ("$set", {"plan": "pro"}), {"plan": "pro"}),
    ],
)
def test_a_profiles_updates_arrive_in_record_order_across_requests(
    sink: MixpanelSink,
    forwarder_env: Callable[..., None],
    context: Any,
    first: tuple[str, Any],
    then: tuple[str, Any],
    expected: dict[str, Any],
) -> None:
    # One update per request, with other profiles' updates between them.
    forwarder_env(MIXPANEL_PROJECT_TOKEN=sink.token, PROFILE_BATCH_MAX_UPDATES="1")
    updates = [user("u1", "$set", {"seen": 1}), user("u1", *first), user("u2", "$set", {"a": 1}), user("u1", *then)]

    assert sqs_handler(sqs(*updates), context) == {"batchItemFailures": []}
    assert sink.users["u1"].properties == {"seen": 1, **expected}


def test_a_bad_update_is_refused_before_sending_and_the_rest_flows(with_token: MixpanelSink, context: Any) -> None:
    sink = with_token
    bad = [
        {"$distinct_id": "u1", "$set": {"a": 1}, "$unset": ["b"]},
        user("u2", "$add", {"logins": "1"}),
        user("null", "$set", {"a": 1}),
        {"$group_id": "42", "$set": {"a": 1}},
        group("42", "$add", {"seats": 1}),
        {"event": "Signed up", "$distinct_id": "u3"},
    ]
    invocation = sqs(user("ok", "$set", {"a": 1}), *bad)

    response = sqs_handler(invocation, context)

    assert len(response["batchItemFailures"]) == len(bad)  # no dead-letter queue here: reported, each with its reason
    assert list(sink.users) == ["ok"]
    assert sink.stats()["engage"]["requests"] == 1
    assert sorted(field.split(":")[0] for field in reasons()) == sorted(
        ["operation", "$add.logins", "$distinct_id", "$group_key", "$add", "message"]
    )


def test_the_sink_sees_plain_json_with_the_token_and_no_authorization(with_token: MixpanelSink, context: Any) -> None:
    sink = with_token
    assert sqs_handler(sqs(user("u1", "$set", {"a": 1})), context) == {"batchItemFailures": []}
    [request] = sink.requests
    assert (request.endpoint, request.gzip, request.answer, request.wrong_token) == ("/engage", False, 1, 0)


def test_the_profile_samples_land_each_message_at_its_endpoint(with_token: MixpanelSink, context: Any) -> None:
    sink = with_token
    invocation = load_event("sqs-profiles.json")

    response = sqs_handler(invocation, context)

    # The last record holds an update with two operations: refused before sending, reported (no DLQ here).
    assert response == {"batchItemFailures": [{"itemIdentifier": invocation["Records"][-1]["messageId"]}]}
    assert len(sink.events) == 2
    assert sink.users["user-1201"].properties == {
        "$email": "user-1201@example.com",
        "plan": "pro",
        "seats": 3,
        "tags": ["beta"],
    }
    assert sink.users["user-1203"].properties == {"first_seen": "2025-11-24"}
    assert sink.groups[("company_id", "42")].properties == {"name": "Acme", "regions": ["eu-west-1"]}

    assert kinesis_handler(load_event("kinesis-profiles.json"), context) == {"batchItemFailures": []}
    assert sink.users["user-1300"].properties == {"plan": "team"}
    assert sink.groups[("company_id", "7")].properties == {"founded": 2019}


BIG = 123456789012345678901234  # beyond 64 bits: orjson reads it rounded
WIDE = 12345678901234567891  # between 2**53 and 2**64: a double (Mixpanel's numbers, the sink's too) rounds it


@pytest.mark.parametrize("number", [BIG, WIDE])
def test_a_big_integer_user_meets_its_profile_and_its_group_on_every_endpoint(
    with_token: MixpanelSink, context: Any, number: int
) -> None:
    sink = with_token
    event = {"event": "Played", "properties": {"distinct_id": number, "company_id": str(number), "time": 1_764_000_000}}
    segment = {
        "type": "track",
        "event": "Paid",
        "userId": number,
        "messageId": "m-1",
        "timestamp": "2025-11-24T16:00:00Z",
    }
    invocation = sqs(
        json.dumps(event),
        json.dumps(user(number, "$set", {"plan": "pro"})),
        json.dumps(group(number, "$set", {"seats": 3})),
        json.dumps(segment),
    )

    assert sqs_handler(invocation, context) == {"batchItemFailures": []}

    assert reasons() == {}
    digits = str(number)
    assert [e["properties"]["distinct_id"] for e in sink.events] == [digits, digits]
    assert [e["properties"]["$user_id"] for e in sink.events if e["event"] == "Paid"] == [digits]
    assert list(sink.users) == [digits]  # one profile, the one its events name: not a rounded neighbour's
    assert list(sink.groups) == [("company_id", digits)]
