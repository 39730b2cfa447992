"""Replay against a real SQS dead-letter queue (moto) and the embedded sink: only what imports is deleted."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import boto3
import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import lambda_context, sqs_event, sqs_record
from localdev.sink import MixpanelSink
from mixpanel_forwarder import replay as replay_module
from mixpanel_forwarder import runtime
from mixpanel_forwarder.deadletter import SqsParker
from mixpanel_forwarder.parked import Parked
from mixpanel_forwarder.replay import main, replay
from mixpanel_forwarder.settings import Settings
from tests.functional.conftest import FAST_RETRIES, load_event


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as running:
        yield running


@pytest.fixture
def sqs(aws: str) -> Any:
    return boto3.client("sqs")


@pytest.fixture
def dlq(sqs: Any) -> str:
    """The parked-events queue, empty."""
    return str(sqs.create_queue(QueueName="parked")["QueueUrl"])


def apply_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str | None]) -> None:
    """`env` set (None removes a variable)."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def plain(name: str, distinct_id: str) -> dict[str, Any]:
    """An event Mixpanel takes."""
    return {"event": name, "properties": {"time": 1_764_000_000, "distinct_id": distinct_id}}


def park(dlq: str, *events: dict[str, Any]) -> None:
    """Each event parked in a document of its own, as the first item of the record `m<n>`."""
    for n, event in enumerate(events):
        assert SqsParker(dlq).park([Parked({"reason": "x"}, {"item": f"sqs:m{n}:0"}, "event", event)]) == [True]


def park_poison(sink: MixpanelSink, dlq: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The SQS poison sample through the real handler, parking its 4 bad records in `dlq`."""
    apply_env(monkeypatch, {**sink.env(), **FAST_RETRIES, "DEAD_LETTER_QUEUE_URL": dlq})
    event = load_event("sqs-poison.json")
    assert sqs_handler(event, lambda_context()) == {"batchItemFailures": []}
    runtime.reset()
    return event


def in_queue(sqs: Any, queue_url: str) -> int:
    """The messages in the queue, visible or not."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def visible_now(sqs: Any, queue_url: str) -> int:
    """The messages a receive could take now (none hidden for a visibility timeout)."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_replay_imports_what_now_passes_and_leaves_the_rest_parked(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    park_poison(sink, dlq, monkeypatch)
    assert in_queue(sqs, dlq) == 4
    # "The cause is fixed": here, a parked event whose only fault was a placeholder distinct_id is corrected
    # in place, the way an operator would after fixing the producer.
    fixed = Parked(
        {"reason": "fixed by hand"},
        {"messageId": "m-fixed", "item": "sqs:m-fixed:0"},
        "event",
        plain("Fixed", "u-fixed"),
    )
    assert SqsParker(dlq).park([fixed]) == [True]

    report = replay(Settings.from_env(), dlq)

    assert report.documents == 5
    assert report.imported_events == 1
    assert report.deleted_messages == 1
    assert report.kept_documents == 4
    assert [event["event"] for event in sink.events if event["event"] == "Fixed"] == ["Fixed"]
    assert in_queue(sqs, dlq) == 4  # the 4 still-bad records stay parked


def test_replay_is_idempotent_with_the_original_insert_id(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = {"event": "Late", "properties": {"distinct_id": "u1"}}  # no time: the envelope's is kept
    parked = Parked({"reason": "x"}, {"item": "sqs:m9:0", "defaultTimeMs": 1_764_000_000_000}, "event", item)
    apply_env(monkeypatch, sink.env())
    SqsParker(dlq).park([parked])
    SqsParker(dlq).park([parked])  # parked twice (e.g. a redelivery)

    replay(Settings.from_env(), dlq)

    assert len(sink.events) == 1
    assert sink.duplicates == 1
    assert sink.events[0]["properties"]["time"] == 1_764_000_000_000
    assert in_queue(sqs, dlq) == 0


def test_dry_run_sends_nothing_deletes_nothing_and_shows_the_events(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_env(monkeypatch, sink.env())
    park(dlq, plain("Dry", "u1"))

    assert main(["--queue-url", dlq, "--dry-run"]) == 0

    output = capsys.readouterr().out
    assert "would import 1 messages" in output
    assert json.loads(output.strip().splitlines()[-1])["event"] == "Dry"
    assert sink.requests == []
    assert in_queue(sqs, dlq) == 1


def test_a_dry_run_reads_each_document_once_however_many_chunks_it_takes(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, sink.env())
    monkeypatch.setattr(replay_module, "REPLAY_CHUNK", 2)  # three documents: two chunks
    park(dlq, *(plain("Dry", f"u{n}") for n in range(3)))

    report = replay(Settings.from_env(), dlq, dry_run=True, limit=10)  # the limit bounds a run that reads again

    assert (report.documents, report.imported_events) == (3, 3)
    assert sink.requests == []
    assert in_queue(sqs, dlq) == 3


def test_replay_of_a_document_parked_in_parts(sink: MixpanelSink, sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    dlq = sqs.create_queue(QueueName="parked", Attributes={"MaximumMessageSize": "8192"})["QueueUrl"]
    apply_env(monkeypatch, sink.env())
    big = {"event": "Big", "properties": {"time": 1_764_000_000, "distinct_id": "u1", "note": "n" * 30_000}}
    assert SqsParker(dlq).park([Parked({"reason": "x"}, {"item": "sqs:big:0"}, "event", big)]) == [True]
    assert in_queue(sqs, dlq) > 3

    report = replay(Settings.from_env(), dlq)

    assert report.imported_events == 1
    assert report.incomplete_parts == 0
    assert sink.events[0]["properties"]["note"] == "n" * 30_000
    assert in_queue(sqs, dlq) == 0


def test_replay_reads_events_that_were_parked_together(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, {**sink.env(), **FAST_RETRIES})
    # Three events of one record, parked in one shared document; since then "fixed" (they are valid now).
    together = [
        Parked(
            {"reason": "was refused"},
            {"messageId": "m1", "item": f"sqs:m1:{n}"},
            "event",
            plain("Fixed", f"u{n}"),
            group=0,
        )
        for n in range(3)
    ]
    assert SqsParker(dlq).park(together) == [True, True, True]
    assert in_queue(sqs, dlq) == 1

    report = replay(Settings.from_env(), dlq)

    assert (report.documents, report.imported_events, report.deleted_messages) == (1, 3, 1)
    assert sorted(event["properties"]["distinct_id"] for event in sink.events) == ["u0", "u1", "u2"]
    assert in_queue(sqs, dlq) == 0


def test_a_parked_profile_update_goes_back_to_its_endpoint(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a user update parked because the function had no project token, and the token now set
    apply_env(monkeypatch, {**sink.env(), "MIXPANEL_PROJECT_TOKEN": str(sink.token)})
    update = {"$distinct_id": "u-7", "$set": {"plan": "pro"}}
    reason = {"reason": "no project token", "field": "$token", "kind": "user"}
    SqsParker(dlq).park([Parked(reason, {"messageId": "m7", "item": "sqs:m7:0"}, "event", update)])

    # WHEN it is looked at, then replayed
    assert main(["--queue-url", dlq, "--dry-run"]) == 0
    output = capsys.readouterr().out
    assert json.loads(output.strip().splitlines()[-1])["$distinct_id"] == "u-7"
    assert "$token" not in output
    assert str(sink.token) not in output  # the project token is a secret: the sample never shows it
    assert sink.requests == []
    report = replay(Settings.from_env(), dlq)

    # THEN /engage applied it, with the token and no geolocation, and the queue let it go
    assert report.imported_events == 1
    assert sink.users["u-7"].properties == {"plan": "pro"}
    assert sink.users["u-7"].ip == "0"
    assert in_queue(sqs, dlq) == 0


TOO_DEEP = {"a": {"b": {"c": {"d": 1}}}}  # Mixpanel takes three levels of nesting


def forward(sink: MixpanelSink, dlq: str, monkeypatch: pytest.MonkeyPatch, *messages: Any, **env: str | None) -> None:
    """`messages` (one SQS record each) through the real handler, parking in `dlq`; `env` over the sink's (None
    removes a variable)."""
    apply_env(monkeypatch, {**sink.env(), **FAST_RETRIES, "DEAD_LETTER_QUEUE_URL": dlq, **env})
    records = [sqs_record(json.dumps(message), message_id=f"m{n}") for n, message in enumerate(messages)]
    assert sqs_handler(sqs_event(records), lambda_context()) == {"batchItemFailures": []}
    runtime.reset()


def fix_parked(sqs: Any, dlq: str, fix: Callable[[dict[str, Any]], None]) -> None:
    """The one parked document, corrected by hand as an operator would once the producer is fixed."""
    [message] = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    document = json.loads(message["Body"])
    fix(document)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(document))
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])


def applied(sink: MixpanelSink, operation: str) -> list[Any]:
    return [update.value for update in sink.updates if update.operation == operation]


def test_a_replay_never_applies_the_add_an_amplitude_identify_had_imported_again(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an Amplitude $identify whose $add was imported and whose $set was refused (nested too deep), parked
    identify = {
        "event_type": "$identify",
        "user_id": "u1",
        "user_properties": {"$add": {"logins": 1}, "$set": {"plan": "pro", "address": TOO_DEEP}},
    }
    token = {"MIXPANEL_PROJECT_TOKEN": str(sink.token)}
    forward(sink, dlq, monkeypatch, identify, **token)
    assert sink.users["u1"].properties == {"logins": 1}

    # WHEN it is replayed twice as it is (the $set refused again), then once its $set is fixed
    # THEN the counter stays 1: only the refused $set is made again, each time
    for _ in range(2):
        again = replay(Settings.from_env(), dlq)
        assert (again.documents, again.kept_documents) == (1, 1)
        assert again.reasons == {"$set.address.a.b.c: nests deeper than 3 levels": 1}
        assert sink.users["u1"].properties == {"logins": 1}
    fix_parked(sqs, dlq, lambda document: document["event"]["user_properties"]["$set"].update(address="1 Main St"))
    fixed = replay(Settings.from_env(), dlq)

    assert (fixed.imported_events, fixed.kept_documents) == (1, 0)
    assert sink.users["u1"].properties == {"logins": 1, "plan": "pro", "address": "1 Main St"}
    assert applied(sink, "$add") == [{"logins": 1}]
    assert in_queue(sqs, dlq) == 0


def test_a_replay_of_a_segment_group_call_sends_the_refused_group_update_alone(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a group call whose group update was refused (a trait nested too deep) and whose membership was imported
    group = {"type": "group", "userId": "u1", "groupId": "acme", "messageId": "g-1", "traits": {"deep": TOO_DEEP}}
    forward(sink, dlq, monkeypatch, group, MIXPANEL_PROJECT_TOKEN=str(sink.token))
    assert applied(sink, "$union") == [{"$group_id": ["acme"]}]
    assert sink.groups == {}

    # WHEN the trait is fixed and the call replayed
    fix_parked(sqs, dlq, lambda document: document["event"]["traits"].update(deep="shallow"))
    report = replay(Settings.from_env(), dlq)

    # THEN the group has its profile, and the membership was sent once, the first time
    assert (report.imported_events, report.kept_documents) == (1, 0)
    assert sink.groups[("$group_id", "acme")].properties == {"deep": "shallow"}
    assert applied(sink, "$union") == [{"$group_id": ["acme"]}]
    assert in_queue(sqs, dlq) == 0


def test_an_amplitude_event_s_profile_update_is_replayed_alone_and_only_under_the_setting_that_made_it(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an Amplitude event imported, and the profile update AMPLITUDE_USER_PROPERTIES=profile made of it parked
    # for want of a project token
    play = {"event_type": "Song Played", "user_id": "u1", "insert_id": "i-1", "user_properties": {"plan": "pro"}}
    forward(sink, dlq, monkeypatch, play, AMPLITUDE_USER_PROPERTIES="profile", MIXPANEL_PROJECT_TOKEN=None)
    assert [event["event"] for event in sink.events] == ["Song Played"]
    imports = len(sink.requests)

    # WHEN it is replayed with the token now set: first without AMPLITUDE_USER_PROPERTIES, then with it
    apply_env(monkeypatch, {"MIXPANEL_PROJECT_TOKEN": str(sink.token), "AMPLITUDE_USER_PROPERTIES": None})
    without = replay(Settings.from_env(), dlq)
    monkeypatch.setenv("AMPLITUDE_USER_PROPERTIES", "profile")
    report = replay(Settings.from_env(), dlq)

    # THEN the first kept it, saying what is missing; the second sent the update alone, not the event again
    [reason] = without.reasons
    assert reason.startswith("record: parked under AMPLITUDE_USER_PROPERTIES, which this replay does not have")
    assert "--function" in reason
    assert (report.imported_events, report.kept_documents) == (1, 0)
    assert sink.users["u1"].properties == {"plan": "pro"}
    assert len(sink.requests) == imports + 1  # the /engage request alone
    assert sink.duplicates == 0
    assert in_queue(sqs, dlq) == 0


def create_function(sink: MixpanelSink, variables: dict[str, str]) -> str:
    """A forwarder function as Lambda keeps its configuration (moto stores it; nothing is invoked)."""
    trust = {"Version": "2012-10-17", "Statement": []}
    role = boto3.client("iam").create_role(RoleName="forwarder", AssumeRolePolicyDocument=json.dumps(trust))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return {}\n")
    answer = boto3.client("lambda").create_function(
        FunctionName="sqs-forwarder",
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="app.lambda_handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": variables},
    )
    name: str = answer["FunctionName"]
    return name


def test_the_runbook_replay_reads_the_function_s_settings_and_hashes_what_the_env_recipe_would_not(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a user update parked for want of a project token, by a function that hashes e-mails (TRANSFORMS), and
    # the token since put in the function's secret
    rules = json.dumps({"hash_properties": ["$email"]})
    key = "a-test-key-of-32-characters-long"
    update = {"$distinct_id": "u1", "$set": {"$email": "ada@example.com"}}
    forward(sink, dlq, monkeypatch, update, TRANSFORMS=rules, TRANSFORM_HASH_KEY=key, MIXPANEL_PROJECT_TOKEN=None)
    secret = {"username": "sink-user", "secret": "sink-secret", "token": str(sink.token), "hash_key": key}
    arn = boto3.client("secretsmanager").create_secret(Name="forwarder", SecretString=json.dumps(secret))["ARN"]
    function = create_function(
        sink,
        {
            "MIXPANEL_API_URL": sink.url,
            "MIXPANEL_PROJECT_ID": sink.env()["MIXPANEL_PROJECT_ID"],
            "MIXPANEL_CREDENTIALS_SECRET_ARN": arn,
            "DEAD_LETTER_QUEUE_URL": dlq,
            "TRANSFORMS": rules,
        },
    )

    # WHEN it is replayed as the old recipe did (credentials and token in the environment, no TRANSFORMS), then
    # with --function
    apply_env(monkeypatch, {"TRANSFORMS": None, "TRANSFORM_HASH_KEY": None, "MIXPANEL_PROJECT_TOKEN": str(sink.token)})
    recipe = replay(Settings.from_env(), dlq)
    assert main(["--function", function]) == 0

    # THEN the first sent nothing and named TRANSFORMS; the second sent it hashed, as the function would have
    assert recipe.kept_documents == 1
    assert "parked under TRANSFORMS" in next(iter(recipe.reasons))
    digest = hmac.new(key.encode(), b"ada@example.com", hashlib.sha256).hexdigest()
    assert [update.value for update in sink.updates] == [{"$email": digest}]
    assert "imported 1 messages" in capsys.readouterr().out
    assert in_queue(sqs, dlq) == 0


def test_a_function_that_cannot_be_read_is_named_in_one_line(aws: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--function", "no-such-forwarder", "--dry-run"]) == 2

    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("error: cannot read the settings of the function 'no-such-forwarder'")
    assert "ResourceNotFoundException" in line
    assert captured.out == ""


def test_a_replay_that_lands_part_of_an_item_leaves_only_the_rest_parked_and_never_adds_twice(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an Amplitude $identify parked whole for want of a project token: its $set and its $add
    identify = {
        "event_type": "$identify",
        "user_id": "u1",
        "user_properties": {"$set": {"plan": "pro"}, "$add": {"n": 1}},
    }
    forward(sink, dlq, monkeypatch, identify, MIXPANEL_PROJECT_TOKEN=None)
    # One update per request: a request Mixpanel refuses may have applied its other updates (docs/delivery.md)
    apply_env(monkeypatch, {"MIXPANEL_PROJECT_TOKEN": str(sink.token), "PROFILE_BATCH_MAX_UPDATES": "1"})

    # WHEN it is replayed three times while Mixpanel refuses its $set, and once more when it no longer does
    reports = []
    for _ in range(3):
        sink.reject_next(endpoint="/engage")
        reports.append(replay(Settings.from_env(), dlq))
        assert sink.users["u1"].properties == {"n": 1}  # the counter stays at 1
        assert in_queue(sqs, dlq) == 1  # one document stays parked
    landed = replay(Settings.from_env(), dlq)

    # THEN the first replay left a document naming the $set alone (not read again in that run), which the others
    # replayed; the $add went once
    assert [(report.documents, report.kept_documents, report.narrowed) for report in reports] == [
        (1, 1, 1),
        (1, 1, 0),
        (1, 1, 0),
    ]
    assert (landed.imported_events, landed.kept_documents) == (1, 0)
    assert sink.users["u1"].properties == {"n": 1, "plan": "pro"}
    assert applied(sink, "$add") == [{"n": 1}]
    assert in_queue(sqs, dlq) == 0


def test_a_replay_whose_group_update_is_not_delivered_keeps_it_alone_and_sends_the_membership_once(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a Segment group call parked whole for want of a project token: its group update and the membership
    group = {"type": "group", "userId": "u1", "groupId": "acme", "messageId": "g-1", "traits": {"name": "Acme"}}
    forward(sink, dlq, monkeypatch, group, MIXPANEL_PROJECT_TOKEN=None)
    apply_env(monkeypatch, {"MIXPANEL_PROJECT_TOKEN": str(sink.token), "MAX_ATTEMPTS": "2"})

    # WHEN it is replayed twice while /groups answers 503 to every attempt, then once it is back
    for _ in range(2):
        sink.fail_next(503, count=2, endpoint="/groups")
        kept = replay(Settings.from_env(), dlq)
        assert kept.kept_documents == 1
        assert in_queue(sqs, dlq) == 1
    landed = replay(Settings.from_env(), dlq)

    # THEN the membership was sent once, the first time, and the group update alone went on being replayed
    assert applied(sink, "$union") == [{"$group_id": ["acme"]}]
    assert (landed.imported_events, landed.kept_documents) == (1, 0)
    assert sink.groups[("$group_id", "acme")].properties == {"$name": "Acme"}
    assert in_queue(sqs, dlq) == 0


def test_a_replay_stopped_half_way_leaves_what_it_did_not_import_visible_and_deletes_only_what_it_did(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN three parked documents, the second of which fails again, and a run of chunks of two
    apply_env(monkeypatch, sink.env())
    monkeypatch.setattr(replay_module, "REPLAY_CHUNK", 2)
    park(dlq, *(plain(name, f"u{n}") for n, name in enumerate(["Good", "", "Later"])))  # no name: refused again

    # WHEN the run is stopped (Ctrl-C) once it has read the third, before replaying it
    def stop_at_the_third(read: list[int] = []) -> Callable[[int], None]:  # noqa: B006 - the count across calls
        def progress(n: int) -> None:
            read.append(n)
            if len(read) == 3:
                raise KeyboardInterrupt

        return progress

    with pytest.raises(KeyboardInterrupt):
        replay(Settings.from_env(), dlq, progress=stop_at_the_third())

    # THEN the first is imported and deleted; the other two are in the queue, visible at once
    assert [event["event"] for event in sink.events] == ["Good"]
    assert visible_now(sqs, dlq) == 2
    assert in_queue(sqs, dlq) == 2


def test_messages_that_are_no_parked_document_are_kept_saying_why_and_the_others_replayed(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a parked event beside messages edited by hand or cut short, and a pointer to an object since deleted
    apply_env(monkeypatch, sink.env())
    park(dlq, plain("Good", "u1"))
    boto3.client("s3").create_bucket(Bucket="parked-bucket")
    for body in [
        '{"reason": "x", "source": {"item": "sqs:m1:0"}, "event": {"event": "Cut", "prop',
        '["not", "a", "document"]',
        json.dumps({"reason": "x", "part": {"id": "p", "index": 0, "count": 2}, "data": "!!not base64!!"}),
        json.dumps({"reason": "x", "part": {"id": "q", "index": 5, "count": 2}, "data": "e30="}),
        json.dumps({"reason": "x", "s3": {"bucket": "parked-bucket", "key": "parked/gone.json"}}),
    ]:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)

    report = replay(Settings.from_env(), dlq)

    # THEN the event is imported; each of the others stays in the queue, visible, counted with why
    assert [event["event"] for event in sink.events] == ["Good"]
    assert (report.documents, report.imported_events, report.kept_documents) == (6, 1, 5)
    reasons = " | ".join(sorted(report.reasons))
    assert "document: the message is not JSON" in reasons
    assert "document: the message is not a JSON object" in reasons
    assert "document: part 0 of 2 of p: its data is not base64" in reasons
    assert "document: part 5 of 2: the index must be an integer from 0 to count - 1" in reasons
    assert "document: cannot read s3://parked-bucket/parked/gone.json: NoSuchKey" in reasons
    assert report.incomplete_parts == 0
    assert visible_now(sqs, dlq) == 5


def test_a_replay_with_a_limit_leaves_the_messages_it_received_and_did_not_read_visible(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, sink.env())
    park(dlq, *(plain(f"E{n}", f"u{n}") for n in range(3)))

    report = replay(Settings.from_env(), dlq, limit=1)

    assert (report.documents, report.imported_events) == (1, 1)
    assert visible_now(sqs, dlq) == 2  # not hidden for the visibility timeout


def test_a_function_whose_secret_cannot_be_read_stops_the_replay_in_one_line_before_the_queue_is_read(
    sink: MixpanelSink, sqs: Any, dlq: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a parked event, and a function whose credentials secret the operator cannot read (here: it is gone)
    park(dlq, plain("Later", "u1"))
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf"
    function = create_function(
        sink,
        {
            "MIXPANEL_API_URL": sink.url,
            "MIXPANEL_PROJECT_ID": "4242",
            "MIXPANEL_CREDENTIALS_SECRET_ARN": arn,
            "DEAD_LETTER_QUEUE_URL": dlq,
        },
    )

    # WHEN it is replayed with that function's settings; and, with this environment's, from a queue that is not there
    code = main(["--function", function])
    captured = capsys.readouterr()
    apply_env(monkeypatch, sink.env())
    missing = main(["--queue-url", dlq + "-gone"])

    # THEN one line says what could not be read; nothing was taken from the queue
    assert code == 2
    [line] = captured.err.splitlines()
    assert line.startswith("error: cannot read the Mixpanel credentials secret: ")
    assert "ResourceNotFoundException" in line
    assert missing == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: the parked-events queue {dlq}-gone: ")
    assert "NonExistentQueue" in line
    assert visible_now(sqs, dlq) == 1
    assert sink.requests == []
