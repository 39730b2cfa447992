"""TRANSFORMS end to end, through the real handlers to the embedded sink: each rule's effect on what arrived, the
filtered state (summary, metric; never reported, never parked), HMAC hashing with the configured key, bad rules
failing the invocation before anything is acknowledged, and a replay that does not hash twice."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.demo_formats import SEVEN_RULES  # the example: every rule
from localdev.eventgen import lambda_context, sqs_event, sqs_record
from localdev.sink import MixpanelSink
from mixpanel_forwarder import metrics as names
from mixpanel_forwarder import runtime
from mixpanel_forwarder.errors import ConfigError
from mixpanel_forwarder.replay import replay
from mixpanel_forwarder.settings import Settings
from tests.functional.conftest import load_event
from tests.functional.test_credentials_secret import create_secret, use_secret
from tests.functional.test_hostile_dead_letter import parked_failures
from tests.functional.test_metrics import invocation_metrics
from tests.unit.test_eventgen_vendors import kinesis_messages

HASH_KEY = "k3y-for-tests-0123456789abcdef"
T = 1_764_000_000


def digest(value: str, key: str = HASH_KEY) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def event(name: str, n: int, **properties: Any) -> dict[str, Any]:
    identity = {"distinct_id": f"u{n}", "time": T + n, "$insert_id": f"ins-{n}"}
    return {"event": name, "properties": {**identity, **properties}}


def signup(n: int) -> dict[str, Any]:
    return event(
        "signup",
        n,
        userEmail=f"ada{n}@example.com",
        phone="+1-415-555-0100",
        password="hunter2",
        card_number="4111111111111111",
        plan="growth",
    )


def invocation(*messages: Any) -> dict[str, Any]:
    return sqs_event([sqs_record(json.dumps(m), index=i, message_id=f"m{i}") for i, m in enumerate(messages)])


def summary() -> dict[str, Any]:
    result = runtime.last_result()
    assert result is not None
    return result.summary()


@pytest.fixture
def transforms(sink: MixpanelSink, forwarder_env: Callable[..., None]) -> Callable[..., None]:
    def apply(rules: Any = SEVEN_RULES, **overrides: str | None) -> None:
        text = rules if isinstance(rules, str) else json.dumps(rules)
        env = {"MIXPANEL_PROJECT_TOKEN": sink.token, "TRANSFORMS": text, "TRANSFORM_HASH_KEY": HASH_KEY}
        forwarder_env(**{**env, **overrides})

    return apply


def test_the_seven_rules_each_show_in_the_sink_and_filtered_events_are_counted_never_parked(
    sink: MixpanelSink, transforms: Callable[..., None], dlq: str, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    transforms(DEAD_LETTER_QUEUE_URL=dlq)
    heartbeat, debug, kept = event("Heartbeat", 1), event("debug cache miss", 2), event("Checkout Started", 3)

    response = sqs_handler(invocation(heartbeat, signup(4), debug, kept), context)

    assert response == {"batchItemFailures": []}
    assert parked_failures(dlq) == []
    assert sorted(e["event"] for e in sink.events) == ["Checkout Started", "Sign Up"]  # rename_events
    [signed_up] = [e["properties"] for e in sink.events if e["event"] == "Sign Up"]
    assert signed_up == {
        "distinct_id": "u4",
        "time": (T + 4) * 1000,
        "$insert_id": "ins-4",
        "$email": digest("ada4@example.com"),  # renamed from userEmail, then hashed: renames come first
        "phone": digest("+1-415-555-0100"),
        "plan": "growth",  # password and card_number dropped
        "pipeline": "kinesis-prod",
        "ip": 0,
    }
    assert next(e for e in sink.events if e["event"] == "Checkout Started")["properties"]["pipeline"] == "kinesis-prod"
    counted = summary()
    assert (counted["events"], counted["imported"], counted["filtered"], counted["parked"]) == (4, 2, 2, 0)
    assert counted["filtered_by"] == {"drop_events": 2}
    metrics = invocation_metrics(capsys.readouterr().out)["metrics"]
    assert metrics[names.EVENTS_FILTERED] == 2
    assert (metrics[names.EVENTS_PARKED], metrics[names.EVENTS_REPORTED]) == (0, 0)


def test_keep_events_filters_out_the_rest_naming_its_rule(
    sink: MixpanelSink, transforms: Callable[..., None], context: Any
) -> None:
    transforms({"keep_events": ["sign*", "Order Completed"], "rename_events": {"signup": "Sign Up"}})

    response = sqs_handler(invocation(signup(1), event("Order Completed", 2), event("Page Viewed", 3)), context)

    assert response == {"batchItemFailures": []}
    # keep_events matches the name as sent (case and all), before rename_events.
    assert sorted(e["event"] for e in sink.events) == ["Order Completed", "Sign Up"]
    assert summary()["filtered_by"] == {"keep_events": 1}


def test_rules_apply_to_vendor_messages_after_mapping_and_to_profile_updates(
    sink: MixpanelSink, transforms: Callable[..., None], context: Any
) -> None:
    transforms(
        {
            "drop_events": ["Workout *"],
            "drop_properties": ["$os_version"],
            "rename_properties": {"mp_lib": "sdk"},
            "hash_properties": ["$email", "distinct_id"],
            "add_properties": {"pipeline": "rudderstack"},
        },
        MIXPANEL_ID_MERGE="original",
    )
    messages = kinesis_messages("kinesis-rudderstack.json")

    assert kinesis_handler(load_event("kinesis-rudderstack.json"), context) == {"batchItemFailures": []}

    events = {e["event"]: e["properties"] for e in sink.events}
    assert sorted(events) == ["$identify", "Order Completed", "Viewed Trail Runner 2"]  # "Workout Started": dropped
    completed = events["Order Completed"]
    user, device = digest(messages[1]["userId"]), digest(messages[1]["anonymousId"])
    # The mapped distinct_id hashed, and with it every field carrying the same user: none goes in the clear.
    assert (completed["distinct_id"], completed["$user_id"], completed["$device_id"]) == (user, user, device)
    assert (events["$identify"]["$identified_id"], events["$identify"]["$anon_id"]) == (user, device)
    assert events["Viewed Trail Runner 2"]["distinct_id"] == device  # an anonymous page view: its device id
    [(profile, _)] = sink.users.items()
    assert profile == user  # the identify call's profile meets the user's events
    assert completed["sdk"] == messages[1]["context"]["library"]["name"]
    assert "mp_lib" not in completed
    assert completed["pipeline"] == "rudderstack"
    assert summary()["filtered_by"] == {"drop_events": 1}


def test_a_profile_update_has_its_named_properties_hashed_and_its_user_too(
    sink: MixpanelSink, transforms: Callable[..., None], context: Any
) -> None:
    transforms({"hash_properties": ["$email", "distinct_id"], "drop_properties": ["newsletter"]})
    identify = json.loads(load_event("sqs-segment.json")["Records"][3]["body"])

    assert sqs_handler(invocation(identify), context) == {"batchItemFailures": []}

    [(distinct_id, profile)] = sink.users.items()
    assert distinct_id == digest(identify["userId"])  # so that the profile still meets the user's hashed events
    assert profile.properties["$email"] == digest(identify["traits"]["email"])
    assert profile.properties["$first_name"] == identify["traits"]["firstName"]
    assert "newsletter" not in profile.properties


def test_the_hash_key_may_come_from_the_credentials_secret(
    sink: MixpanelSink, forwarder_env: Callable[..., None], context: Any, aws: str
) -> None:
    secret_key = "another-key-from-the-secret-0042"
    arn = create_secret({"username": "sink-user", "secret": "sink-secret", "hash_key": secret_key})
    use_secret(forwarder_env, arn, TRANSFORMS=json.dumps({"hash_properties": ["$email"]}))

    assert sqs_handler(invocation(event("Signed Up", 1, **{"$email": "ada@example.com"})), context) == {
        "batchItemFailures": []
    }
    assert sink.events[0]["properties"]["$email"] == digest("ada@example.com", secret_key)


def test_placeholder_ids_are_not_hashed_into_real_ones_but_parked_naming_the_field(
    sink: MixpanelSink, transforms: Callable[..., None], dlq: str, context: Any
) -> None:
    transforms({"hash_properties": ["distinct_id"]}, DEAD_LETTER_QUEUE_URL=dlq)
    placeholders = [event("Played", n, distinct_id=value) for n, value in enumerate(["undefined", "null", "anonymous"])]

    assert sqs_handler(invocation(*placeholders, event("Played", 3)), context) == {"batchItemFailures": []}

    assert [e["properties"]["distinct_id"] for e in sink.events] == [digest("u3")]  # one real user, hashed
    parked = parked_failures(dlq)
    assert sorted(failure["event"]["properties"]["distinct_id"] for failure in parked) == [
        "anonymous",
        "null",
        "undefined",
    ]
    assert {failure["field"] for failure in parked} == {"properties.distinct_id"}
    assert all("placeholder" in failure["reason"] for failure in parked)


def test_a_renamed_and_hashed_group_key_keeps_the_group_profile_with_its_events(
    sink: MixpanelSink, transforms: Callable[..., None], context: Any
) -> None:
    transforms({"rename_properties": {"company_id": "company"}, "hash_properties": ["company"]})
    update = {"$group_key": "company_id", "$group_id": "acme", "$set": {"seats": 3}}

    assert sqs_handler(invocation(event("Played", 1, company_id="acme"), update), context) == {"batchItemFailures": []}

    [played] = sink.events
    assert played["properties"]["company"] == digest("acme")
    assert list(sink.groups) == [("company", digest("acme"))]  # the events' group key and id: they meet


@pytest.mark.parametrize(
    ("rules", "key", "names"),
    [
        ("{drop_events: [Heartbeat]}", HASH_KEY, "not valid JSON"),
        (json.dumps({"drop_event": ["Heartbeat"]}), HASH_KEY, "'drop_event'"),
        (json.dumps({"drop_events": "Heartbeat"}), HASH_KEY, "drop_events"),
        (json.dumps({"rename_events": {"signup": 7}}), HASH_KEY, "rename_events"),
        (json.dumps({"add_properties": ["pipeline"]}), HASH_KEY, "add_properties"),
        (json.dumps({"hash_properties": ["$email"]}), None, "hash_properties needs a key"),
        (json.dumps({"hash_properties": ["$email"]}), "short", "hash_properties needs a key"),
        (json.dumps({"add_properties": {"time": "now"}}), HASH_KEY, "add_properties.time"),
        (json.dumps({"add_properties": {"$insert_id": 42}}), HASH_KEY, "add_properties.$insert_id"),
        (json.dumps({"add_properties": {"distinct_id": None}}), HASH_KEY, "add_properties.distinct_id"),
        (json.dumps({"add_properties": {"ip": {"v4": "203.0.113.7"}}}), HASH_KEY, "add_properties.ip"),
    ],
    ids=[
        "not-json",
        "unknown-key",
        "wrong-type",
        "rename-not-a-name",
        "add-not-an-object",
        "no-key",
        "short-key",
        "add-time-now",
        "add-insert-id",
        "add-null-distinct-id",
        "add-ip-object",
    ],
)
def test_bad_transforms_fail_the_invocation_before_anything_is_acknowledged(
    sink: MixpanelSink, transforms: Callable[..., None], rules: str, key: str | None, names: str
) -> None:
    transforms(rules, TRANSFORM_HASH_KEY=key)

    with pytest.raises(ConfigError) as raised:
        sqs_handler(load_event("sqs-segment.json"), lambda_context())

    assert raised.value.variable == "TRANSFORMS"
    assert str(raised.value).startswith("TRANSFORMS: ")
    assert names in str(raised.value)
    assert sink.requests == []  # nothing sent, nothing acknowledged: Lambda delivers the batch again


def test_a_message_refused_by_mixpanel_is_parked_as_sent_and_replayed_without_hashing_twice(
    sink: MixpanelSink, transforms: Callable[..., None], dlq: str, context: Any
) -> None:
    transforms(DEAD_LETTER_QUEUE_URL=dlq)
    sink.reject_next()  # strict mode: the first event of the next request is refused, with a 400

    assert sqs_handler(invocation(signup(1)), context) == {"batchItemFailures": []}

    assert sink.events == []
    runtime.reset()
    report = replay(Settings.from_env(), dlq)

    assert report.imported_events == 1
    [replayed] = sink.events
    assert replayed["event"] == "Sign Up"
    assert replayed["properties"]["$email"] == digest("ada1@example.com")  # hashed once, when first sent
    assert replayed["properties"]["phone"] == digest("+1-415-555-0100")
