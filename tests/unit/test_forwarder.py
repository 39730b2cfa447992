"""The pipeline with a scripted fake sender and parker: every answer maps to the right records."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from mixpanel_forwarder.credentials import Credentials
from mixpanel_forwarder.errors import InvocationError
from mixpanel_forwarder.forwarder import Forwarder, Result
from mixpanel_forwarder.sources import kinesis, sqs
from mixpanel_forwarder.transport import Endpoint, Response
from tests.conftest import FakeParker, FakeSender, FakeSourceQueue, imported, make_settings, timeout_error

NOW = 1_764_000_100.0


def event(n: int, **props: Any) -> dict[str, Any]:
    return {"event": f"E{n}", "properties": {"time": 1_764_000_000 + n, "distinct_id": f"u{n}", **props}}


def sqs_invocation(*bodies: Any, fifo: bool = False) -> dict[str, Any]:
    arn = "arn:aws:sqs:us-east-1:1:q" + (".fifo" if fifo else "")
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"SentTimestamp": "1764000000000"},
                "eventSourceARN": arn,
            }
            for i, body in enumerate(bodies)
        ]
    }


def run(invocation: dict[str, Any], sender: FakeSender, parker: FakeParker | None = None, **settings: Any) -> Result:
    forwarder = Forwarder(
        make_settings(**settings), sender=sender, parker=parker, clock=lambda: NOW, source_queue=FakeSourceQueue()
    )
    return forwarder.forward(sqs, invocation, None)


def reported(result: Result) -> list[str]:
    return [failure["itemIdentifier"] for failure in result.response["batchItemFailures"]]


def strict_400(*failed: dict[str, Any], imported: int = 0) -> Response:
    body = {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": list(failed),
        "num_records_imported": imported,
        "status": "Bad Request",
    }
    return Response(400, json.dumps(body).encode())


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_all_imported_reports_nothing_and_sends_each_event_once() -> None:
    sender = FakeSender()
    result = run(sqs_invocation(event(1), [event(2), event(3)]), sender)

    assert result.response == {"batchItemFailures": []}
    assert [e["event"] for e in sender.sent_events] == ["E1", "E2", "E3"]
    assert result.ledger.counts()["imported"] == 3


def test_requests_respect_the_event_cap() -> None:
    sender = FakeSender()
    result = run(sqs_invocation(*[event(n) for n in range(25)]), sender, batch_max_events=10)

    assert sorted(len(r) for r in sender.requests) == [5, 10, 10]
    assert reported(result) == []


def test_strict_400_parks_refused_events_and_counts_the_rest_imported() -> None:
    sender = FakeSender(
        strict_400({"index": 1, "$insert_id": "x", "field": "properties.time", "message": "too old"}, imported=2)
    )
    parker = FakeParker()
    result = run(sqs_invocation(event(1), event(2), event(3)), sender, parker)

    assert reported(result) == []
    assert len(sender.requests) == 1  # a 400 is never resent
    [parked] = parker.messages
    assert parked["field"] == "properties.time"
    assert parked["reason"] == "too old"
    assert parked["event"]["event"] == "E2"
    assert parked["source"]["messageId"] == "m1"
    assert result.ledger.counts() | {"imported": 2, "parked": 1} == result.ledger.counts()


def test_strict_400_without_dead_letter_queue_reports_the_refused_record() -> None:
    sender = FakeSender(strict_400({"index": 0, "field": "properties.distinct_id", "message": "bad"}))
    result = run(sqs_invocation(event(1), event(2)), sender)

    assert reported(result) == ["m0"]
    assert len(sender.requests) == 1


@pytest.mark.parametrize(
    "entry",
    [
        {"insert_id": "INSERT"},  # no index, the key some docs use
        {"$insert_id": "INSERT", "index": 99},  # index out of range
        "INSERT",  # a bare string, as has been seen
    ],
)
def test_strict_400_entry_is_matched_by_insert_id_when_the_index_does_not_help(entry: Any) -> None:
    entry = json.loads(json.dumps(entry).replace("INSERT", "id-of-e2"))
    sender = FakeSender(strict_400(entry))
    parker = FakeParker()
    result = run(sqs_invocation(event(1), event(2, **{"$insert_id": "id-of-e2"})), sender, parker)

    assert reported(result) == []
    assert [m["event"]["event"] for m in parker.messages] == ["E2"]


def test_strict_400_entry_that_matches_nothing_resends_the_unrefused_events_later() -> None:
    sender = FakeSender(strict_400({"index": 0, "field": "event"}, {"insert_id": "nobody"}))
    parker = FakeParker()
    result = run(sqs_invocation(event(1), event(2)), sender, parker)

    assert [m["event"]["event"] for m in parker.messages] == ["E1"]
    assert reported(result) == ["m1"]


def test_400_without_failed_records_parks_the_whole_request_with_mixpanels_error() -> None:
    sender = FakeSender(Response(400, b'{"code":400,"error":"unable to parse body"}'))
    parker = FakeParker()
    result = run(sqs_invocation(event(1), event(2)), sender, parker)

    assert reported(result) == []
    assert [m["reason"] for m in parker.messages] == ["Mixpanel refused the request: unable to parse body"] * 2


def test_413_splits_the_request_until_it_fits() -> None:
    def too_large_above_two(events: list[dict[str, Any]]) -> Response:
        return Response(413, b"too big") if len(events) > 2 else imported(events)

    sender = FakeSender(*[too_large_above_two] * 10)
    result = run(sqs_invocation(*[event(n) for n in range(8)]), sender)

    assert reported(result) == []
    assert [len(r) for r in sender.requests] == [8, 4, 2, 2, 4, 2, 2]
    accepted = [e["event"] for r in sender.requests if len(r) <= 2 for e in r]
    assert sorted(accepted) == sorted(f"E{n}" for n in range(8))


def test_413_for_a_single_event_parks_it() -> None:
    sender = FakeSender(Response(413, b"request exceeds max limit of 2097152 bytes"))
    parker = FakeParker()
    result = run(sqs_invocation(event(1)), sender, parker)

    assert reported(result) == []
    assert "too large" in parker.messages[0]["reason"]


@pytest.mark.parametrize("answer", [Response(429, b"slow down"), Response(503, b"<html>"), timeout_error()])
def test_transient_answer_is_retried_and_then_imported(answer: Any) -> None:
    sender = FakeSender(answer, answer)
    result = run(sqs_invocation(event(1)), sender)

    assert reported(result) == []
    assert len(sender.requests) == 3
    assert result.delivery.retries == 2


def test_transient_answers_past_max_attempts_report_the_records() -> None:
    sender = FakeSender(*[Response(502, b"bad gateway")] * 5)
    result = run(sqs_invocation(event(1), event(2)), sender, max_attempts=3)

    assert reported(result) == ["m0", "m1"]
    assert len(sender.requests) == 3
    assert any("gave up after 3 attempts" in reason for reason in result.summary()["reasons"])


def test_retry_after_longer_than_the_time_left_stops_retrying() -> None:
    sender = FakeSender(Response(429, b"", retry_after="120"))
    forwarder = Forwarder(make_settings(), sender=sender, clock=lambda: NOW)
    result = forwarder.forward(sqs, sqs_invocation(event(1)), Context(remaining_ms=5_000))

    assert reported(result) == ["m0"]
    assert len(sender.requests) == 1


def test_a_429_whose_retry_after_date_overflows_is_retried_with_the_backoff() -> None:
    # email.utils raised OverflowError reading it: not retried, its records were reported as an internal error
    sender = FakeSender(Response(429, b"slow down", retry_after="Mon, 01 Jan 99999999999999999999 00:00:00 GMT"))
    result = run(sqs_invocation(event(1)), sender)

    assert reported(result) == []
    assert len(sender.requests) == 2
    assert result.delivery.retries == 1


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refused_credentials_stop_sending_and_acknowledge_nothing(status: int) -> None:
    sender = FakeSender(Response(status, b'{"error":"Invalid credentials"}'))
    result = run(sqs_invocation(*[event(n) for n in range(6)]), sender, batch_max_events=2, max_concurrent_requests=1)

    assert reported(result) == [f"m{n}" for n in range(6)]
    assert len(sender.requests) == 1
    assert result.ledger.counts()["imported"] == 0


def test_request_timeout_is_bounded_by_the_time_left() -> None:
    sender = FakeSender()
    forwarder = Forwarder(
        make_settings(request_timeout=15.0, deadline_margin_ms=1000), sender=sender, clock=lambda: NOW
    )
    forwarder.forward(sqs, sqs_invocation(event(1)), Context(remaining_ms=4_000))

    assert 0 < sender.timeouts[0] <= 3.0


def test_no_time_left_sends_nothing_and_reports_everything() -> None:
    sender = FakeSender()
    forwarder = Forwarder(make_settings(deadline_margin_ms=3000), sender=sender, clock=lambda: NOW)
    result = forwarder.forward(sqs, sqs_invocation(event(1), event(2)), Context(remaining_ms=2_000))

    assert sender.requests == []
    assert reported(result) == ["m0", "m1"]


def test_unexpected_sender_error_reports_the_records_instead_of_losing_them() -> None:
    sender = FakeSender(RuntimeError("bug"))
    result = run(sqs_invocation(event(1)), sender)
    assert reported(result) == ["m0"]


def test_invalid_events_are_parked_and_never_sent() -> None:
    sender = FakeSender()
    parker = FakeParker()
    bodies = [event(1), {"event": "", "properties": {}}, "not json at all", event(4, distinct_id="null")]
    result = run(sqs_invocation(*bodies), sender, parker)

    assert reported(result) == []
    assert [e["event"] for e in sender.sent_events] == ["E1"]
    by_source = {m["source"]["messageId"]: m for m in parker.messages}
    assert set(by_source) == {"m1", "m2", "m3"}
    assert by_source["m2"]["record"]["body"] == "not json at all"  # the raw record, whole
    assert by_source["m1"]["field"] == "event"
    assert by_source["m3"]["field"] == "properties.distinct_id"
    assert by_source["m3"]["event"] == event(4, distinct_id="null")  # as it arrived


def test_invalid_events_without_dead_letter_queue_report_their_records() -> None:
    sender = FakeSender()
    result = run(sqs_invocation(event(1), "not json", [event(2), {"event": "x", "properties": {"time": 1}}]), sender)

    assert reported(result) == ["m1", "m2"]
    assert sorted(e["event"] for e in sender.sent_events) == ["E1", "E2"]  # valid events still go


def test_parking_that_fails_reports_the_record_for_retry() -> None:
    result = run(sqs_invocation(event(1), "not json"), FakeSender(), FakeParker(refuse=True))
    assert reported(result) == ["m1"]


def test_fifo_reports_the_first_failed_record_and_everything_after_it() -> None:
    sender = FakeSender(strict_400({"index": 1, "field": "event", "message": "no"}))
    result = run(sqs_invocation(event(0), event(1), event(2), event(3), fifo=True), sender)
    assert reported(result) == ["m1", "m2", "m3"]


def test_fifo_with_everything_imported_reports_nothing() -> None:
    result = run(sqs_invocation(event(0), event(1), fifo=True), FakeSender())
    assert reported(result) == []


def test_record_that_must_be_retried_but_has_no_id_fails_the_whole_invocation() -> None:
    invocation = sqs_invocation("not json")
    del invocation["Records"][0]["messageId"]
    with pytest.raises(InvocationError):
        run(invocation, FakeSender())


def test_kinesis_reports_sequence_numbers_of_failed_records() -> None:
    import base64

    def record(seq: str, data: bytes) -> dict[str, Any]:
        return {
            "kinesis": {
                "sequenceNumber": seq,
                "data": base64.b64encode(data).decode(),
                "partitionKey": "p",
                "approximateArrivalTimestamp": 1_764_000_000.5,
            },
            "eventID": f"shardId-000000000001:{seq}",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:1:stream/s",
        }

    invocation = {
        "Records": [
            record("100", json.dumps(event(1)).encode()),
            record("101", b"\x00\x01garbage"),
            record("102", json.dumps(event(2)).encode()),
        ]
    }
    sender = FakeSender()
    result = Forwarder(make_settings(), sender=sender, clock=lambda: NOW).forward(kinesis, invocation, None)

    assert reported(result) == ["101"]
    assert len(sender.sent_events) == 2


def test_summary_holds_counts_and_reasons_but_no_payload_or_secret() -> None:
    result = run(sqs_invocation(event(1, secret_plan="platinum-ultra"), "not json"), FakeSender())
    text = json.dumps(result.summary())
    assert "platinum-ultra" not in text
    assert "svc-secret-do-not-log" not in text
    assert result.summary()["records_reported"] == 1


def test_requests_are_in_flight_together_up_to_the_concurrency_setting() -> None:
    import threading

    together = threading.Barrier(3, timeout=5)  # breaks (and the records are reported) unless 3 overlap

    def wait_for_the_others(events: list[dict[str, Any]]) -> Response:
        together.wait()
        return imported(events)

    sender = FakeSender(*[wait_for_the_others] * 3)
    result = run(sqs_invocation(*[event(n) for n in range(3)]), sender, batch_max_events=1, max_concurrent_requests=3)

    assert reported(result) == []
    assert len(sender.requests) == 3


class RotatingCredentials:
    """Our own credentials seam: hands out `versions` in turn, one per refresh."""

    def __init__(self, *passwords: str) -> None:
        self.passwords = list(passwords)
        self.refreshes = 0

    def get(self, *, refresh: bool = False, within: float | None = None) -> Credentials:
        if refresh:
            self.refreshes += 1
        index = min(self.refreshes, len(self.passwords) - 1)
        return Credentials(username="svc", password=self.passwords[index], project_id="4242")


def accept_password(password: str) -> Callable[[Endpoint, list[dict[str, Any]]], Response]:
    def answer(endpoint: Endpoint, events: list[dict[str, Any]]) -> Response:
        token = base64.b64decode(endpoint.authorization.removeprefix("Basic ")).decode()
        return imported(events) if token == f"svc:{password}" else Response(401, b'{"error":"Invalid credentials"}')

    return answer


def run_with(credentials: RotatingCredentials, sender: AuthCheckingSender, count: int = 1, **settings: Any) -> Result:
    forwarder = Forwarder(make_settings(**settings), sender=sender, credentials=credentials, clock=lambda: NOW)
    return forwarder.forward(sqs, sqs_invocation(*[event(n) for n in range(count)]), None)


class AuthCheckingSender(FakeSender):
    def __init__(self, password: str) -> None:
        super().__init__()
        self.check = accept_password(password)

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        super().send(endpoint, body, timeout)
        return self.check(endpoint, self.requests[-1])


def test_401_reads_rotated_credentials_once_and_resends() -> None:
    credentials = RotatingCredentials("old", "new")
    sender = AuthCheckingSender("new")

    result = run_with(credentials, sender)

    assert reported(result) == []
    assert credentials.refreshes == 1
    assert len(sender.requests) == 2


def test_401_with_unchanged_credentials_is_not_resent() -> None:
    credentials = RotatingCredentials("old")
    sender = AuthCheckingSender("new")

    result = run_with(credentials, sender)

    assert reported(result) == ["m0"]
    assert credentials.refreshes == 1
    assert len(sender.requests) == 1


def test_401_from_many_requests_refreshes_only_once() -> None:
    credentials = RotatingCredentials("old", "newer", "newest")
    sender = AuthCheckingSender("newest")

    result = run_with(credentials, sender, count=6, batch_max_events=1, max_concurrent_requests=3)

    assert credentials.refreshes == 1
    assert reported(result) == [f"m{n}" for n in range(6)]


def test_an_event_the_codec_cannot_encode_is_refused_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from mixpanel_forwarder import codec

    real = codec.dumps

    def refuse_the_second(value: Any) -> bytes:
        # Alone or in a run of events encoded together, as a real codec would.
        values = value if isinstance(value, list) else [value]
        if any(isinstance(each, dict) and each.get("event") == "E2" for each in values):
            raise ValueError("Out of range float values are not JSON compliant")  # as the stdlib says of NaN
        return real(value)

    monkeypatch.setattr(codec, "dumps", refuse_the_second)
    parker = FakeParker()
    # Each has its own $insert_id, so each takes the common path first.
    events = [event(n, **{"$insert_id": f"insert-id-{n:04d}"}) for n in (1, 2, 3)]
    result = run(sqs_invocation(*events), FakeSender(), parker)

    assert reported(result) == []
    assert [m["event"]["event"] for m in parker.messages] == ["E2"]
    assert "cannot be encoded as JSON" in parker.messages[0]["reason"]


def test_an_event_over_1_mib_is_parked_as_it_arrived_and_the_rest_of_its_run_imported() -> None:
    sender = FakeSender()
    parker = FakeParker()
    big = event(2, blob="x" * (1024 * 1024))
    result = run(sqs_invocation(event(1), big, event(3)), sender, parker)

    assert reported(result) == []
    assert [e["event"] for e in sender.sent_events] == ["E1", "E3"]
    [parked] = parker.messages
    assert parked["field"] == "event"
    assert "over Mixpanel's 1 MiB per event" in parked["reason"]
    assert parked["event"] == big  # its time as it arrived, no ip added


def test_events_taken_in_runs_are_sent_as_normalized_one_by_one_in_order() -> None:
    from mixpanel_forwarder.model import Item
    from mixpanel_forwarder.normalize import normalize

    bodies = []
    for n in range(150):  # more than one run; common and general paths mixed
        extra: dict[str, Any] = {"$insert_id": f"insert-id-{n:04d}"} if n % 3 else {}
        if n % 5 == 0:
            extra["time"] = "2025-11-24T16:00:00Z"
        if n % 7 == 0:
            extra["Plan"] = "pro"  # a flat event: its top-level fields move into properties
            bodies.append({"event": f"E{n}", "distinct_id": f"u{n}", "ip": "203.0.113.9", "properties": extra})
        else:
            bodies.append(event(n, **extra))
    sender = FakeSender()
    result = run(sqs_invocation(*bodies), sender, batch_max_events=40)

    assert reported(result) == []
    assert sorted(len(request) for request in sender.requests) == [30, 40, 40, 40]  # sent concurrently
    expected = [
        normalize(Item(json.loads(json.dumps(body)), f"sqs:m{n}:0", 1_764_000_000_000), NOW * 1000)
        for n, body in enumerate(bodies)
    ]
    assert sorted(sender.sent_events, key=lambda sent: int(sent["event"][1:])) == expected
    assert all(request == sorted(request, key=lambda sent: int(sent["event"][1:])) for request in sender.requests)


def test_a_run_over_1_mib_of_events_each_under_it_is_sent_whole() -> None:
    sender = FakeSender()
    bodies = [event(n, blob="y" * 30_000) for n in range(70)]  # ~2.1 MB: each run is checked event by event
    result = run(sqs_invocation(*bodies), sender, batch_max_bytes=10 * 1024 * 1024)

    assert reported(result) == []
    assert [e["event"] for e in sender.sent_events] == [f"E{n}" for n in range(70)]
    assert result.counts()["imported"] == 70


def test_without_orjson_the_stdlib_codec_encodes_the_same_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from mixpanel_forwarder import codec
    from mixpanel_forwarder.normalize import derive_insert_id

    monkeypatch.setattr(codec, "dumps", codec._stdlib_dumps)
    monkeypatch.setattr(codec, "Fragment", codec._StdlibFragment)
    sender = FakeSender()
    no_distinct_id = {"event": "E2", "properties": {"time": 1_764_000_002}}  # the general path: a fragment
    result = run(sqs_invocation(event(1), no_distinct_id, event(3)), sender)

    assert reported(result) == []
    assert [e["event"] for e in sender.sent_events] == ["E1", "E2", "E3"]
    assert sender.sent_events[1]["properties"]["$insert_id"] == derive_insert_id("sqs:m1:0")
    assert codec._stdlib_dumps([codec._StdlibFragment(b'{"a":1}'), {"b": 2}]) == b'[{"a":1},{"b":2}]'


def test_strict_400_naming_no_event_of_the_request_isolates_the_refused_ones_by_halves() -> None:
    # As /import answers identity events in a project on simplified ID merge: one string for the whole request.
    refusal = "identity events are not allowed when project is using simplified identity management"

    def answer(events: list[dict[str, Any]]) -> Response:
        if any(each["event"] == "$identify" for each in events):
            body = {"code": 400, "failed_records": [refusal], "num_records_imported": 0, "status": "Bad Request"}
            return Response(400, json.dumps(body).encode())
        return imported(events)

    identify = {"event": "$identify", "properties": {"time": 1_764_000_000, "$identified_id": "u1", "$anon_id": "d1"}}
    sender = FakeSender(*[answer] * 10)
    parker = FakeParker()
    result = run(sqs_invocation(event(1), identify, event(3), event(4)), sender, parker, id_merge="original")

    assert reported(result) == []
    [parked] = parker.messages
    assert parked["event"]["event"] == "$identify"
    assert refusal in parked["reason"]
    assert result.counts()["imported"] == 3
