"""Profile updates end to end through the Forwarder, with a scripted sender (a seam of our own): routing by kind,
/engage's and /groups' answers, order, hold-back, and what is counted."""

from __future__ import annotations

import threading
from typing import Any

from mixpanel_forwarder.credentials import Credentials, CredentialsSource
from mixpanel_forwarder.errors import ConfigError, CredentialsError
from mixpanel_forwarder.forwarder import Forwarder, Result
from mixpanel_forwarder.sources import sqs
from mixpanel_forwarder.transport import Response
from tests.conftest import (
    FakeParker,
    FakeSender,
    FakeSourceQueue,
    imported,
    make_settings,
    timeout_error,
    verbose_ok,
    verbose_refused,
)
from tests.unit.test_forwarder import NOW, Context, event, reported, sqs_invocation

TOKEN = "project-token"


def run(
    bodies: list[Any],
    sender: FakeSender,
    parker: FakeParker | None = None,
    source: CredentialsSource | None = None,
    **settings: Any,
) -> Result:
    token = settings.pop("token", TOKEN)
    base = make_settings(**settings)
    assert base.credentials is not None
    credentials = base.credentials._replace(token=token)
    forwarder = Forwarder(
        base._replace(credentials=credentials),
        sender=sender,
        parker=parker,
        credentials=source,
        clock=lambda: NOW,
        source_queue=FakeSourceQueue(),
    )
    return forwarder.forward(sqs, sqs_invocation(*bodies), None)


class RotatedCredentials:
    """The credentials a container read before a rotation; read again (refresh), the rotated ones."""

    def __init__(self, before: Credentials, after: Credentials) -> None:
        self.before, self.after = before, after
        self.refreshed = 0

    def get(self, *, refresh: bool = False, within: float | None = None) -> Credentials:
        self.refreshed += refresh
        return self.after if self.refreshed else self.before


def set_plan(user: str, plan: str) -> dict[str, Any]:
    return {"$distinct_id": user, "$set": {"plan": plan}}


def test_events_user_and_group_updates_each_go_to_their_endpoint() -> None:
    sender = FakeSender()
    group = {"$group_key": "company_id", "$group_id": "42", "$set": {"seats": 300}}
    result = run([event(1), set_plan("u1", "pro"), group, event(2)], sender)

    assert reported(result) == []
    assert [e["event"] for request in sender.sent_to("/import") for e in request] == ["E1", "E2"]
    assert sender.sent_to("/engage") == [[{**set_plan("u1", "pro"), "$token": TOKEN, "$ip": "0"}]]
    assert sender.sent_to("/groups") == [[{**group, "$token": TOKEN}]]
    for endpoint in sender.endpoints:
        if "/import" in endpoint.url:
            assert endpoint.content_encoding == "gzip"
            assert endpoint.authorization.startswith("Basic ")
        else:  # the token is inside each update; these endpoints take no gzip
            assert endpoint.url.endswith("?verbose=1")
            assert (endpoint.authorization, endpoint.content_encoding) == ("", None)


def test_without_a_token_updates_are_parked_naming_the_setting_and_events_flow() -> None:
    sender = FakeSender()
    parker = FakeParker()
    result = run([event(1), set_plan("u1", "pro")], sender, parker, token=None)

    assert reported(result) == []
    assert [e["event"] for e in sender.sent_events] == ["E1"]
    [parked] = parker.messages
    assert parked["kind"] == "user"
    assert parked["field"] == "$token"
    assert "MIXPANEL_PROJECT_TOKEN" in parked["reason"]
    assert parked["event"] == set_plan("u1", "pro")  # as it arrived


def test_a_refusal_is_isolated_by_halves_and_only_the_refused_update_is_parked() -> None:
    def engage(updates: list[dict[str, Any]]) -> Response:
        if any(update["$set"]["plan"] == "bad" for update in updates):
            return verbose_refused("$set: plan is not allowed")
        return verbose_ok(updates)

    sender = FakeSender(*[engage] * 10)
    parker = FakeParker()
    updates = [set_plan(f"u{n}", "bad" if n == 2 else "pro") for n in range(4)]
    result = run(updates, sender, parker)

    assert reported(result) == []
    # The whole; its first half (taken); its second half (refused); then each of that half alone.
    assert [len(request) for request in sender.sent_to("/engage")] == [4, 2, 2, 1, 1]
    [parked] = parker.messages
    assert parked["event"] == {**set_plan("u2", "bad"), "$ip": "0"}  # as sent, without the project token
    assert "Mixpanel refused the update: $set: plan is not allowed" in parked["reason"]
    assert result.counts()["user_updates_imported"] == 3
    assert result.delivery.requests["2xxRefused"] == 3  # the whole, its second half, and u2 alone


def test_a_200_that_is_not_the_verbose_answer_is_retried_not_taken() -> None:
    sender = FakeSender(Response(200, b"1"), Response(200, b"<html>portal</html>"))
    result = run([set_plan("u1", "pro")], sender)

    assert reported(result) == []
    assert len(sender.sent_to("/engage")) == 3
    assert result.delivery.requests["2xxUnconfirmed"] == 2


def test_a_profiles_updates_go_in_record_order_one_request_at_a_time() -> None:
    sender = FakeSender()
    updates = [set_plan("u1", f"p{n}") for n in range(7)]
    result = run(updates, sender, profile_batch_max_updates=2)

    assert reported(result) == []
    sent = [update["$set"]["plan"] for request in sender.sent_to("/engage") for update in request]
    assert sent == [f"p{n}" for n in range(7)]


def test_once_an_update_is_not_delivered_its_profiles_later_updates_are_held_back() -> None:
    def engage(updates: list[dict[str, Any]]) -> Response:
        if updates[0]["$set"]["plan"] == "first":
            raise timeout_error()
        return verbose_ok(updates)

    sender = FakeSender(*[engage] * 20)
    updates = [set_plan("u1", "first"), set_plan("u2", "other"), set_plan("u1", "second")]
    result = run(updates, sender, profile_batch_max_updates=1, max_attempts=2)

    assert reported(result) == ["m0", "m2"]  # u1's first, and its second held back with it
    sent = [update["$set"]["plan"] for request in sender.sent_to("/engage") for update in request]
    assert sent == ["first", "first", "other"]  # "second" was never sent ahead of "first"
    assert "held back: an earlier update of this profile was not delivered" in result.summary()["reasons"]


def test_updates_that_are_not_idempotent_sent_again_after_an_unclear_answer_are_counted() -> None:
    sender = FakeSender(timeout_error())
    add = {"$distinct_id": "u1", "$add": {"logins": 1}}
    append = {"$distinct_id": "u2", "$append": {"seen": "home"}}
    result = run([add, set_plan("u3", "pro"), append], sender)

    assert reported(result) == []
    assert len(sender.sent_to("/engage")) == 2
    assert result.delivery.resent_not_idempotent == 2  # $add and $append; the $set is safe to resend


def test_a_message_of_two_kinds_is_parked_saying_so() -> None:
    parker = FakeParker()
    mixed = {"event": "Signed up", "$distinct_id": "u1", "$set": {"plan": "pro"}}
    result = run([mixed], FakeSender(), parker)

    assert reported(result) == []
    [parked] = parker.messages
    assert parked["field"] == "message"
    assert "has event and $distinct_id" in parked["reason"]


def test_simplified_id_merge_derives_distinct_id_and_refuses_identity_events() -> None:
    sender = FakeSender()
    parker = FakeParker()
    device_only = {"event": "Viewed", "properties": {"time": 1_764_000_000, "$device_id": "d9"}}
    user_and_device = {"event": "Bought", "properties": {"time": 1_764_000_000, "$device_id": "d9", "$user_id": "u9"}}
    identify = {"event": "$identify", "properties": {"time": 1_764_000_000, "$identified_id": "u9", "$anon_id": "d9"}}
    result = run([device_only, user_and_device, identify], sender, parker)

    assert reported(result) == []
    assert [e["properties"]["distinct_id"] for e in sender.sent_events] == ["$device:d9", "u9"]
    [parked] = parker.messages
    assert "$identify is ignored by simplified ID merge" in parked["reason"]
    assert "MIXPANEL_ID_MERGE=original" in parked["reason"]


def test_original_id_merge_sends_identity_events_as_they_are() -> None:
    sender = FakeSender()
    identify = {"event": "$identify", "properties": {"time": 1_764_000_000, "$identified_id": "u9", "$anon_id": "d9"}}
    result = run([identify], sender, id_merge="original")

    assert reported(result) == []
    [sent] = sender.sent_events
    assert sent["event"] == "$identify"
    assert "distinct_id" not in sent["properties"]


def test_a_400_from_a_profile_endpoint_parks_nothing_and_sends_nothing_more() -> None:
    # Mixpanel documents no 400 for /engage (it refuses updates in a 200): a 400 says nothing about the updates,
    # and may come from a proxy, so none is parked for it; they are reported, as for any other 4xx.
    sender = FakeSender(Response(400, b'{"error": "bad request"}'))
    parker = FakeParker()
    result = run(
        [set_plan("u0", "pro"), set_plan("u1", "pro"), set_plan("u2", "pro")],
        sender,
        parker,
        profile_batch_max_updates=2,
    )

    assert reported(result) == ["m0", "m1", "m2"]
    assert parker.messages == []
    assert len(sender.sent_to("/engage")) == 1  # the second request is not sent
    assert any("Mixpanel answered 400" in reason for reason in result.summary()["reasons"])


def test_a_413_splits_profile_updates_but_one_update_answered_413_is_reported_not_parked() -> None:
    # A gateway before Mixpanel with a smaller body limit than one update: Mixpanel documents no 413 for /engage,
    # and each update is within its 1 MB, so the 413 says nothing against the update. It is not set aside as refused.
    def gateway(updates: list[dict[str, Any]]) -> Response:
        if any(update["$set"]["plan"] == "big" for update in updates):
            return Response(413, b"<html>413 Request Entity Too Large</html>")
        return verbose_ok(updates)

    sender = FakeSender(*[gateway] * 10)
    parker = FakeParker()
    result = run([set_plan("u1", "big"), set_plan("u2", "pro"), set_plan("u1", "later")], sender, parker)

    assert parker.messages == []
    assert reported(result) == ["m0", "m2"]  # u1's update, and its later one held back behind it
    sent = [[update["$set"]["plan"] for update in request] for request in sender.sent_to("/engage")]
    assert sent == [["big", "pro", "later"], ["big"], ["pro"]]
    assert any("413" in reason for reason in result.summary()["reasons"])


def test_after_a_401_and_a_fresh_read_the_updates_are_resent_with_the_new_token() -> None:
    def answer(messages: list[dict[str, Any]]) -> Response:  # the scripted sender serves /import too
        if "event" in messages[0]:
            return imported(messages)
        if messages[0]["$token"] == "old-token":
            return Response(401, b'{"error": "Invalid credentials"}')
        return verbose_ok(messages)

    settings = make_settings()
    assert settings.credentials is not None
    rotated = RotatedCredentials(
        settings.credentials._replace(token="old-token"), settings.credentials._replace(token="new-token")
    )
    sender = FakeSender(*[answer] * 10)
    result = run([set_plan("u1", "pro"), event(2), set_plan("u2", "pro")], sender, source=rotated)

    assert reported(result) == []
    assert rotated.refreshed == 1
    assert [[update["$token"] for update in request] for request in sender.sent_to("/engage")] == [
        ["old-token", "old-token"],
        ["new-token", "new-token"],
    ]
    assert [e["event"] for e in sender.sent_to("/import")[0]] == ["E2"]
    assert result.counts()["user_updates_imported"] == 2


def test_credentials_read_again_without_a_token_report_the_updates_naming_the_setting() -> None:
    settings = make_settings()
    assert settings.credentials is not None
    rotated = RotatedCredentials(settings.credentials._replace(token="old-token"), settings.credentials)
    sender = FakeSender(Response(401, b'{"error": "Invalid credentials"}'))
    result = run([set_plan("u1", "pro")], sender, source=rotated)

    assert reported(result) == ["m0"]
    assert len(sender.sent_to("/engage")) == 1
    [reason] = result.summary()["reasons"]
    assert "MIXPANEL_PROJECT_TOKEN" in reason


class BrokenOnRefresh:
    """Credentials that Mixpanel refuses, and a secret that cannot be used when read again after the 401."""

    def __init__(self, before: Credentials) -> None:
        self.before = before

    def get(self, *, refresh: bool = False, within: float | None = None) -> Credentials:
        if refresh:
            raise ConfigError("MIXPANEL_CREDENTIALS_SECRET_ARN", "the secret is not a JSON object")
        return self.before


def test_a_401_whose_credentials_read_again_cannot_be_used_says_why_in_the_reason() -> None:
    settings = make_settings()
    assert settings.credentials is not None
    sender = FakeSender(Response(401, b'{"error": "Invalid credentials"}'))
    result = run([set_plan("u1", "pro")], sender, source=BrokenOnRefresh(settings.credentials._replace(token="t")))

    assert reported(result) == ["m0"]
    [reason] = result.summary()["reasons"]
    assert "Mixpanel answered 401" in reason
    assert (
        "the credentials read again cannot be used: MIXPANEL_CREDENTIALS_SECRET_ARN: the secret is not a JSON" in reason
    )


class HungOnRefresh:
    """A secret read again after a 401 from a Secrets Manager that does not answer: the read takes all it is given."""

    def __init__(self, before: Credentials) -> None:
        self.before = before
        self.reading = threading.Event()

    def get(self, *, refresh: bool = False, within: float | None = None) -> Credentials:
        if refresh:
            self.reading.set()
            threading.Event().wait(within)  # nothing answers: the read ends when its time does
            raise CredentialsError("cannot read the Mixpanel credentials secret: CallTimeout")
        return self.before


def test_events_answered_while_the_secret_is_read_again_are_imported_not_held_behind_the_read() -> None:
    settings = make_settings()
    assert settings.credentials is not None
    hung = HungOnRefresh(settings.credentials._replace(token="t"))

    def answer(messages: list[dict[str, Any]]) -> Response:
        if "event" in messages[0]:  # /import: answered once the secret is being read again
            assert hung.reading.wait(10)
            return imported(messages)
        return Response(401, b'{"error": "Invalid credentials"}')  # /engage refuses the token

    sender = FakeSender(answer, answer)
    forwarder = Forwarder(settings, sender=sender, credentials=hung, clock=lambda: NOW)
    result = forwarder.forward(sqs, sqs_invocation(event(1), set_plan("u1", "pro")), Context(remaining_ms=2_000))

    assert reported(result) == ["m1"]  # the update; the event, answered 200, is imported
    assert result.counts()["imported"] == 1


def test_an_error_while_sending_is_reported_without_the_text_it_was_encoding() -> None:
    # Credentials no request can carry (from the environment: a secret's are refused when read) fail inside the send
    settings = make_settings()
    assert settings.credentials is not None
    credentials = settings.credentials._replace(password="top-s3cr3t\ud800")
    forwarder = Forwarder(settings._replace(credentials=credentials), sender=FakeSender(), clock=lambda: NOW)
    result = forwarder.forward(sqs, sqs_invocation(event(1)), None)

    assert reported(result) == ["m0"]
    [reason] = result.summary()["reasons"]
    assert reason.startswith("internal error while sending: UnicodeEncodeError")
    assert "s3cr3t" not in reason


def test_only_the_updates_sent_again_after_a_status_0_count_as_resent_not_those_held_back() -> None:
    def engage(updates: list[dict[str, Any]]) -> Response:
        if len(updates) == 3:
            return verbose_refused("$set: plan is not allowed")  # may have applied the two $add
        if updates[0]["$distinct_id"] == "u1":
            raise timeout_error()  # the first half (u1's $set) is not delivered
        return verbose_ok(updates)

    sender = FakeSender(*[engage] * 10)
    add = {"$distinct_id": "u2", "$add": {"logins": 1}}
    later = {"$distinct_id": "u1", "$add": {"logins": 1}}
    result = run([set_plan("u1", "first"), add, later], sender, max_attempts=2)

    assert reported(result) == ["m0", "m2"]  # u1's $set, and its $add held back with it: never sent again
    sent = [[update["$distinct_id"] for update in request] for request in sender.sent_to("/engage")]
    assert sent == [["u1", "u2", "u1"], ["u1"], ["u1"], ["u2"]]
    assert result.delivery.resent_not_idempotent == 1  # u2's $add, the one resent
