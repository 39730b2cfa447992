"""The embedded Mixpanel sink over real loopback HTTP: answers, storage, dedup, limits, auth and every fault kind."""

from __future__ import annotations

import gzip
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from localdev.sink import MixpanelSink, RequestLog

NOW = 1_764_000_000.0
STRICT = "strict=1&project_id=4242"


def event(n: int, **props: Any) -> dict[str, Any]:
    properties = {"time": int(NOW) - 60, "distinct_id": f"user-{n}", "$insert_id": f"id-{n}", **props}
    return {"event": f"Event {n}", "properties": properties}


def basic(user: str, password: str) -> dict[str, str]:
    return urllib3.make_headers(basic_auth=f"{user}:{password}")


SERVICE_ACCOUNT = basic("sink-user", "sink-secret")


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink(clock=lambda: NOW) as running:
        yield running


def post(
    http: urllib3.PoolManager,
    target: MixpanelSink | str,
    events: Any = None,
    *,
    query: str = STRICT,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    compress: bool = False,
    path: str = "/import",
    timeout: float = 5.0,
) -> urllib3.BaseHTTPResponse:
    payload = body if body is not None else json.dumps(events).encode()
    sent = {"Content-Type": "application/json", **SERVICE_ACCOUNT, **(headers or {})}
    if compress:
        payload = gzip.compress(payload)
        sent["Content-Encoding"] = "gzip"
    base = target if isinstance(target, str) else target.url
    return http.request("POST", f"{base}{path}?{query}", body=payload, headers=sent, timeout=timeout)


def answer(response: urllib3.BaseHTTPResponse) -> Any:
    return json.loads(response.data)


# --- normal imports ------------------------------------------------------------------------------------


def test_sink_imports_a_valid_batch_and_keeps_its_events(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    events = [event(1), event(2)]
    response = post(http, sink, events)
    assert response.status == 200
    assert answer(response) == {"code": 200, "num_records_imported": 2, "status": "OK"}
    assert response.headers["Content-Length"] == str(len(response.data))
    assert sink.events == events
    assert sink.requests == [RequestLog(200, 2, 2, 0, False, len(json.dumps(events).encode()), None)]
    assert sink.duplicates == 0


def test_sink_url_and_env_point_the_forwarder_at_it(sink: MixpanelSink) -> None:
    assert sink.url.startswith("http://127.0.0.1:")
    assert not sink.url.endswith("/")
    assert sink.env() == {
        "MIXPANEL_API_URL": sink.url,
        "MIXPANEL_PROJECT_ID": "4242",
        "MIXPANEL_SERVICE_ACCOUNT_USERNAME": "sink-user",
        "MIXPANEL_SERVICE_ACCOUNT_SECRET": "sink-secret",
    }


def test_sink_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="start"):
        _ = MixpanelSink().url


def test_sink_accepts_gzip_and_logs_the_uncompressed_size(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    events = [event(n) for n in range(50)]
    response = post(http, sink, events, compress=True)
    assert response.status == 200
    assert answer(response)["num_records_imported"] == 50
    assert sink.events == events
    (log,) = sink.requests
    assert log.gzip is True
    assert log.bytes_raw == len(json.dumps(events).encode())


def test_sink_refuses_a_corrupt_gzip_body(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    headers = {"Content-Encoding": "gzip"}
    response = post(http, sink, body=gzip.compress(b"[]")[:-6] + b"garbage", headers=headers)
    assert response.status == 400
    body = answer(response)
    assert body["code"] == 400
    assert body["error"] == "unable to decompress body"
    assert "failed_records" not in body
    assert sink.requests[0].gzip is True


def test_sink_accepts_ndjson_and_skips_blank_lines(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    events = [event(1), event(2), event(3)]
    ndjson = ("\n".join(json.dumps(e) for e in events) + "\n\n").encode()
    response = post(http, sink, body=ndjson, headers={"Content-Type": "application/x-ndjson"})
    assert response.status == 200
    assert answer(response)["num_records_imported"] == 3
    assert sink.events == events


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[{not json", "application/json"),
        (b'{"event": "not an array"}', "application/json"),
        (b'{"event": "a"}\n{broken', "application/x-ndjson"),
        (b"", "application/json"),
    ],
)
def test_sink_refuses_an_unparseable_body_without_failed_records(
    sink: MixpanelSink, http: urllib3.PoolManager, body: bytes, content_type: str
) -> None:
    response = post(http, sink, body=body, headers={"Content-Type": content_type})
    assert response.status == 400
    answered = answer(response)
    assert answered["code"] == 400
    assert answered["error"]
    assert "failed_records" not in answered
    assert sink.events == []
    assert sink.requests[0].events == 0


def test_sink_answers_404_elsewhere(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    response = post(http, sink, [event(1)], path="/track")
    assert response.status == 404
    assert answer(response)["code"] == 404
    got = http.request("GET", f"{sink.url}/nowhere")
    assert got.status == 404
    assert answer(got)["code"] == 404
    assert sink.events == []
    assert sink.requests == []


# --- auth ----------------------------------------------------------------------------------------------


def test_sink_accepts_a_project_token_without_project_id(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    response = post(http, sink, [event(1)], query="strict=1", headers=basic("sink-token", ""))
    assert response.status == 200
    assert len(sink.events) == 1


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        pytest.param(basic("sink-user", "wrong-secret-value"), STRICT, id="wrong-secret"),
        pytest.param(basic("other-user", "sink-secret"), STRICT, id="wrong-user"),
        pytest.param(SERVICE_ACCOUNT, "strict=1", id="missing-project-id"),
        pytest.param(SERVICE_ACCOUNT, "strict=1&project_id=9999", id="wrong-project-id"),
        pytest.param(basic("sink-token", "not-empty"), "strict=1", id="token-with-password"),
        pytest.param(basic("wrong-token", ""), "strict=1", id="wrong-token"),
        pytest.param({"Authorization": "Bearer sink-token"}, STRICT, id="not-basic"),
        pytest.param({"Authorization": "Basic !!!not-base64"}, STRICT, id="garbage"),
        pytest.param({"Authorization": ""}, STRICT, id="empty"),
    ],
)
def test_sink_refuses_bad_credentials_with_401(
    sink: MixpanelSink, http: urllib3.PoolManager, headers: dict[str, str], query: str
) -> None:
    response = post(http, sink, [event(1)], query=query, headers=headers)
    assert response.status == 401
    assert answer(response) == {"code": 401, "error": "Invalid credentials", "status": 0}
    assert sink.events == []
    assert sink.requests[0].status == 401


def test_sink_refuses_token_auth_when_it_has_no_token(http: urllib3.PoolManager) -> None:
    with MixpanelSink(token=None, clock=lambda: NOW) as tokenless:
        response = post(http, tokenless, [event(1)], query="strict=1", headers=basic("sink-token", ""))
        assert response.status == 401


def test_sink_never_echoes_a_secret(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    attempted = "attempted-secret-4711"
    refused = post(http, sink, [event(1)], headers=basic("sink-user", attempted))
    accepted = post(http, sink, [event(2)])
    everything = [refused.data, accepted.data, repr(sink.requests).encode()]
    everything += [http.request("GET", f"{sink.url}{path}").data for path in ("/events", "/stats")]
    for text in everything:
        assert attempted.encode() not in text
        assert b"sink-secret" not in text


# --- limits --------------------------------------------------------------------------------------------


def test_sink_answers_413_above_max_bytes_even_gzipped(http: urllib3.PoolManager) -> None:
    with MixpanelSink(max_bytes=1000, clock=lambda: NOW) as small:
        events = [event(n, padding="x" * 200) for n in range(10)]
        for compress in (False, True):
            response = post(http, small, events, compress=compress)
            assert response.status == 413
            assert answer(response) == {
                "code": 413,
                "error": "request exceeds max limit of 1000 bytes",
                "status": "Payload Too Large",
            }
        assert small.events == []
        assert [log.status for log in small.requests] == [413, 413]


def test_sink_refuses_more_than_max_events(http: urllib3.PoolManager) -> None:
    with MixpanelSink(max_events=3, clock=lambda: NOW) as small:
        assert post(http, small, [event(n) for n in range(3)]).status == 200
        response = post(http, small, [event(n) for n in range(10, 14)])
        assert response.status == 400
        answered = answer(response)
        assert answered["error"] == "too many events"
        assert "failed_records" not in answered
        assert len(small.events) == 3


# --- strict validation ---------------------------------------------------------------------------------


def _bad(**props: Any) -> dict[str, Any]:
    return event(9, **props)


def _without(name: str) -> dict[str, Any]:
    bad = event(9)
    del bad["properties"][name]
    return bad


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        pytest.param("not an object", "event", id="not-an-object"),
        pytest.param({"properties": event(9)["properties"]}, "event", id="no-name"),
        pytest.param({"event": "", "properties": event(9)["properties"]}, "event", id="empty-name"),
        pytest.param({"event": 5, "properties": event(9)["properties"]}, "event", id="name-not-a-string"),
        pytest.param({"event": "E"}, "properties", id="no-properties"),
        pytest.param({"event": "E", "properties": [1]}, "properties", id="properties-not-an-object"),
        pytest.param(_without("time"), "properties.time", id="no-time"),
        pytest.param(_bad(time="1764000000"), "properties.time", id="time-a-string"),
        pytest.param(_bad(time=True), "properties.time", id="time-a-bool"),
        pytest.param(_bad(time=31_535_999), "properties.time", id="time-before-1971"),
        pytest.param(_bad(time=31_535_999_999), "properties.time", id="time-ms-before-1971"),
        pytest.param(_bad(time=NOW + 3601), "properties.time", id="time-over-an-hour-ahead"),
        pytest.param(_bad(time=(NOW + 3601) * 1000), "properties.time", id="time-ms-over-an-hour-ahead"),
        pytest.param(_without("$insert_id"), "properties.$insert_id", id="no-insert-id"),
        pytest.param(_bad(**{"$insert_id": ""}), "properties.$insert_id", id="empty-insert-id"),
        pytest.param(_bad(**{"$insert_id": "a" * 37}), "properties.$insert_id", id="insert-id-too-long"),
        pytest.param(_bad(**{"$insert_id": "a_b"}), "properties.$insert_id", id="insert-id-bad-char"),
        pytest.param(_bad(**{"$insert_id": 12345}), "properties.$insert_id", id="insert-id-a-number"),
        pytest.param(_bad(**{"$insert_id": "Undefined"}), "properties.$insert_id", id="insert-id-placeholder"),
        pytest.param(_bad(distinct_id="Anonymous"), "properties.distinct_id", id="distinct-id-placeholder"),
        pytest.param(_bad(distinct_id="00000000-0000-0000-0000-000000000000"), "properties.distinct_id", id="zero"),
        pytest.param(_bad(distinct_id=0), "properties.distinct_id", id="distinct-id-number-0"),
        pytest.param(_bad(distinct_id=None), "properties.distinct_id", id="distinct-id-null"),
        pytest.param(_bad(distinct_id=[]), "properties.distinct_id", id="distinct-id-empty-list"),
    ],
)
def test_sink_strict_mode_fails_the_bad_event_and_imports_the_rest(
    sink: MixpanelSink, http: urllib3.PoolManager, bad: Any, field: str
) -> None:
    good = [event(1), event(2)]
    response = post(http, sink, [good[0], bad, good[1]])
    assert response.status == 400
    answered = answer(response)
    assert answered["code"] == 400
    assert answered["error"] == "some data points in the request failed validation"
    assert answered["status"] == "Bad Request"
    assert answered["num_records_imported"] == 2
    (failure,) = answered["failed_records"]
    properties = bad.get("properties") if isinstance(bad, dict) else None
    insert_id = properties.get("$insert_id") if isinstance(properties, dict) else None
    assert failure["index"] == 1
    assert failure["$insert_id"] == (insert_id if isinstance(insert_id, str) else "")
    assert failure["field"] == field
    assert isinstance(failure["message"], str)
    assert failure["message"]
    assert sink.events == good
    assert sink.requests[0] == RequestLog(400, 3, 2, 1, False, sink.requests[0].bytes_raw, None)


@pytest.mark.parametrize(
    "fine",
    [
        pytest.param(event(1, time=(NOW - 60) * 1000), id="time-in-ms"),
        pytest.param(event(1, time=NOW + 3600), id="time-exactly-an-hour-ahead"),
        pytest.param(event(1, time=NOW - 0.5), id="time-fractional-seconds"),
        pytest.param(event(1, **{"$insert_id": "A-" + "9" * 34}), id="insert-id-36-chars"),
        pytest.param({"event": "E", "properties": {"time": NOW, "$insert_id": "x1"}}, id="no-distinct-id"),
        pytest.param(event(1, distinct_id="anonymous-42"), id="distinct-id-containing-a-placeholder"),
    ],
)
def test_sink_strict_mode_accepts_valid_edge_cases(sink: MixpanelSink, http: urllib3.PoolManager, fine: Any) -> None:
    response = post(http, sink, [fine])
    assert response.status == 200, response.data
    assert sink.events == [fine]


def test_sink_time_limit_follows_its_clock(http: urllib3.PoolManager) -> None:
    now = [NOW]
    with MixpanelSink(clock=lambda: now[0]) as clocked:
        assert post(http, clocked, [event(1, time=NOW + 7200)]).status == 400
        now[0] = NOW + 3600
        assert post(http, clocked, [event(1, time=NOW + 7200)]).status == 200


def test_sink_without_strict_drops_invalid_events_silently(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    good = [event(1), event(2)]
    response = post(http, sink, [good[0], _without("time"), good[1]], query="project_id=4242")
    assert response.status == 200
    assert answer(response) == {"code": 200, "num_records_imported": 2, "status": "OK"}
    assert sink.events == good
    assert sink.requests[0].failed == 1


# --- dedup ---------------------------------------------------------------------------------------------


def test_sink_dedups_on_event_time_distinct_id_and_insert_id(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    events = [event(1), event(2)]
    assert post(http, sink, events).status == 200
    again = post(http, sink, events)
    assert answer(again) == {"code": 200, "num_records_imported": 2, "status": "OK"}
    assert sink.events == events
    assert sink.duplicates == 2


def test_sink_dedup_normalizes_time_to_milliseconds(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    seconds = event(1)
    millis = event(1, time=seconds["properties"]["time"] * 1000)
    assert post(http, sink, [seconds, millis]).status == 200
    assert sink.events == [seconds]
    assert sink.duplicates == 1


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"time": int(NOW) - 1}, id="time"),
        pytest.param({"distinct_id": "someone-else"}, id="distinct_id"),
        pytest.param({"$insert_id": "another-id"}, id="insert_id"),
    ],
)
def test_sink_keeps_events_whose_key_differs(
    sink: MixpanelSink, http: urllib3.PoolManager, changed: dict[str, Any]
) -> None:
    original = event(1)
    other = {"event": original["event"], "properties": {**original["properties"], **changed}}
    renamed = {"event": "Renamed", "properties": original["properties"]}
    assert post(http, sink, [original, other, renamed]).status == 200
    assert sink.events == [original, other, renamed]
    assert sink.duplicates == 0


# --- reading back --------------------------------------------------------------------------------------


def test_sink_shows_events_and_stats_over_get(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    events = [event(1), event(2)]
    post(http, sink, events)
    post(http, sink, events)
    post(http, sink, [event(3)], headers=basic("nobody", "nothing"))
    got = http.request("GET", f"{sink.url}/events")
    assert got.status == 200
    assert answer(got) == events
    stats = http.request("GET", f"{sink.url}/stats")
    assert answer(stats) == {"imported": 2, "duplicates": 2, "requests": 3, "by_status": {"200": 2, "401": 1}}


def test_sink_keeps_connections_alive(sink: MixpanelSink) -> None:
    with urllib3.HTTPConnectionPool("127.0.0.1", int(sink.url.rsplit(":", 1)[1]), maxsize=1, retries=False) as pool:
        for n in range(5):
            response = pool.request(
                "POST", f"/import?{STRICT}", body=json.dumps([event(n)]).encode(), headers=SERVICE_ACCOUNT
            )
            assert response.status == 200
        pool.request("GET", "/nowhere")
        assert pool.num_connections == 1
    assert len(sink.events) == 5


def test_sink_clear_forgets_everything(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    events = [event(1)]
    post(http, sink, events)
    post(http, sink, events)
    sink.fail_next(503)
    sink.clear()
    assert (sink.events, sink.requests, sink.duplicates) == ([], [], 0)
    assert post(http, sink, events).status == 200  # the pending fault is gone too
    assert sink.events == events  # and the dedup keys: the same event is stored again
    assert sink.duplicates == 0


def test_sink_is_thread_safe_under_concurrent_imports(sink: MixpanelSink) -> None:
    errors: list[BaseException] = []

    def client(worker: int) -> None:
        with urllib3.PoolManager(retries=False, timeout=10.0) as pool:
            for batch in range(10):
                events = [event(worker * 1000 + batch * 10 + i) for i in range(10)]
                response = pool.request(
                    "POST", f"{sink.url}/import?{STRICT}", body=json.dumps(events).encode(), headers=SERVICE_ACCOUNT
                )
                if response.status != 200:
                    errors.append(AssertionError(response.data))

    threads = [threading.Thread(target=client, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(sink.events) == 800
    assert len({e["properties"]["$insert_id"] for e in sink.events}) == 800
    assert len(sink.requests) == 80


# --- scripted faults -----------------------------------------------------------------------------------


def test_fail_next_answers_the_status_count_times_then_recovers(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.fail_next(503, count=2)
    for _ in range(2):
        response = post(http, sink, [event(1)])
        assert response.status == 503
        assert answer(response)["code"] == 503
        assert "Retry-After" not in response.headers
    assert sink.events == []
    assert post(http, sink, [event(1)]).status == 200
    assert [(log.status, log.fault, log.events, log.imported) for log in sink.requests] == [
        (503, "fail:503", 1, 0),
        (503, "fail:503", 1, 0),
        (200, None, 1, 1),
    ]


def test_fail_next_sends_the_given_body_and_retry_after(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.fail_next(429, body=b"<html>slow down</html>", retry_after="7")
    response = post(http, sink, [event(1)])
    assert response.status == 429
    assert response.data == b"<html>slow down</html>"
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Content-Type"].startswith("text/html")


def test_fail_next_applies_before_auth(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.fail_next(502)
    assert post(http, sink, [event(1)], headers=basic("nobody", "nothing")).status == 502


def test_fail_next_refuses_a_bad_status_or_count(sink: MixpanelSink) -> None:
    with pytest.raises(ValueError, match="status"):
        sink.fail_next(99)
    with pytest.raises(ValueError, match="count"):
        sink.reset_next(0)


def test_hang_next_answers_503_after_the_delay(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.hang_next(0.3)
    started = time.monotonic()
    response = post(http, sink, [event(1)])
    assert time.monotonic() - started >= 0.3
    assert response.status == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert sink.events == []
    assert sink.requests[0].fault == "hang"


def test_hang_next_times_the_client_out_and_stop_cuts_it_short(http: urllib3.PoolManager) -> None:
    hanging = MixpanelSink(clock=lambda: NOW).start()
    try:
        hanging.hang_next(30)
        with pytest.raises(ReadTimeoutError):
            post(http, hanging, [event(1)], timeout=0.5)
        assert [(log.status, log.fault, log.events) for log in hanging.requests] == [(503, "hang", 1)]
    finally:
        started = time.monotonic()
        hanging.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 5, f"stop() took {stopped_in:.1f}s with a handler hanging for 30s"
    assert hanging.events == []


def test_reset_next_closes_the_connection_without_an_answer(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.reset_next()
    with pytest.raises(ProtocolError) as raised:
        post(http, sink, [event(1)])
    assert isinstance(raised.value.args[1], ConnectionResetError)  # an RST, not a clean close
    assert post(http, sink, [event(1)]).status == 200
    assert [(log.status, log.fault) for log in sink.requests] == [(0, "reset"), (200, None)]
    assert sink.events == [event(1)]


def test_reject_next_fails_the_first_event_and_imports_the_rest(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.reject_next()
    events = [event(1), event(2), event(3)]
    response = post(http, sink, events)
    assert response.status == 400
    assert answer(response) == {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [
            {
                "index": 0,
                "$insert_id": "id-1",
                "field": "properties.forced",
                "message": "rejected by the sink's fault script",
            }
        ],
        "num_records_imported": 2,
        "status": "Bad Request",
    }
    assert sink.events == events[1:]
    assert sink.requests[0] == RequestLog(400, 3, 2, 1, False, sink.requests[0].bytes_raw, "reject")
    assert post(http, sink, [event(4)]).status == 200


def test_reject_next_waits_for_an_authorized_request_with_events(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.reject_next()
    assert post(http, sink, []).status == 200
    assert post(http, sink, [event(1)], headers=basic("nobody", "nothing")).status == 401
    response = post(http, sink, [event(1), event(2)], query="project_id=4242")  # applies even without strict
    assert response.status == 400
    assert [f["index"] for f in answer(response)["failed_records"]] == [0]
    assert sink.events == [event(2)]


def test_scripted_faults_are_consumed_in_order(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.fail_next(429)
    sink.reset_next()
    sink.reject_next()
    sink.fail_next(500)
    assert post(http, sink, [event(1)]).status == 429
    with pytest.raises(ProtocolError):
        post(http, sink, [event(1)])
    assert post(http, sink, [event(1), event(2)]).status == 400
    assert post(http, sink, [event(3)]).status == 500
    assert post(http, sink, [event(3)]).status == 200
    assert [log.fault for log in sink.requests] == ["fail:429", "reset", "reject", "fail:500", None]


def _raw_post(sink: MixpanelSink, events: list[dict[str, Any]]) -> socket.socket:
    """Sends one import over a plain socket, to watch the answer arrive byte by byte."""
    body = json.dumps(events).encode()
    connection = socket.create_connection(("127.0.0.1", int(sink.url.rsplit(":", 1)[1])), timeout=5)
    head = f"POST /import?{STRICT} HTTP/1.1\r\nHost: sink\r\nContent-Type: application/json\r\n"
    head += f"Authorization: {SERVICE_ACCOUNT['authorization']}\r\nContent-Length: {len(body)}\r\n\r\n"
    connection.sendall(head.encode() + body)
    return connection


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
def test_drip_next_imports_and_sends_the_answer_one_byte_at_a_time(
    sink: MixpanelSink, http: urllib3.PoolManager, headers: bool
) -> None:
    sink.drip_next(0.2, headers=headers)
    with _raw_post(sink, [event(1)]) as connection:
        first = connection.recv(65536)
        if headers:
            assert first == b"H"  # even the status line comes a byte at a time
        else:
            assert first.startswith(b"HTTP/1.1 200 OK\r\n")  # the headers at once, Mixpanel's answer byte by byte
            assert b"\r\nContent-Type: application/json\r\n" in first
            assert first.endswith(b"\r\n\r\n")
            assert connection.recv(65536) == b"{"
    assert sink.events == [event(1)]  # the import is real: only the answer is slow
    assert [(log.status, log.fault) for log in sink.requests] == [(200, "drip-headers" if headers else "drip")]
    assert answer(post(http, sink, [event(2)]))["num_records_imported"] == 1  # the next answer comes whole


def test_drip_next_times_the_client_out_and_stop_cuts_it_short(http: urllib3.PoolManager) -> None:
    dripping = MixpanelSink(clock=lambda: NOW).start()
    try:
        dripping.drip_next(30, headers=True)
        with pytest.raises(ReadTimeoutError):
            post(http, dripping, [event(1)], timeout=0.5)
    finally:
        started = time.monotonic()
        dripping.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 5, f"stop() took {stopped_in:.1f}s with a handler dripping a byte every 30s"


@pytest.mark.parametrize("miscount", [False, True], ids=["portal", "miscount"])
def test_unconfirmed_next_answers_200_without_importing(
    sink: MixpanelSink, http: urllib3.PoolManager, miscount: bool
) -> None:
    sink.unconfirmed_next(miscount=miscount)
    response = post(http, sink, [event(1), event(2), event(3)])
    assert response.status == 200
    if miscount:
        assert answer(response) == {"code": 200, "num_records_imported": 2, "status": "OK"}
    else:
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.data.startswith(b"<!DOCTYPE html>")
    assert sink.events == []
    assert [(log.fault, log.imported) for log in sink.requests] == [("miscount" if miscount else "portal", 0)]
    assert answer(post(http, sink, [event(1)])) == {"code": 200, "num_records_imported": 1, "status": "OK"}


def test_drip_next_refuses_a_pace_that_is_not_positive(sink: MixpanelSink) -> None:
    with pytest.raises(ValueError, match="interval"):
        sink.drip_next(0)


# --- random faults -------------------------------------------------------------------------------------


def _statuses(http: urllib3.PoolManager, seed: int, n: int) -> list[int]:
    with MixpanelSink(clock=lambda: NOW) as random_sink:
        random_sink.set_fault_rates(seed=seed, rate_429=0.3, rate_5xx=0.3)
        return [post(http, random_sink, [event(i)]).status for i in range(n)]


def test_random_faults_are_reproducible_for_a_seed(http: urllib3.PoolManager) -> None:
    first = _statuses(http, seed=11, n=40)
    assert first == _statuses(http, seed=11, n=40)
    assert set(first) >= {200, 429}
    assert set(first) & {502, 503}
    assert set(first) <= {200, 429, 502, 503}


def test_random_429_has_no_retry_after_and_5xx_is_html(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.set_fault_rates(seed=1, rate_429=1.0)
    limited = post(http, sink, [event(1)])
    assert limited.status == 429
    assert "Retry-After" not in limited.headers
    assert answer(limited)["code"] == 429
    sink.set_fault_rates(seed=1, rate_5xx=1.0)
    broken = post(http, sink, [event(1)])
    assert broken.status in (502, 503)
    assert broken.headers["Content-Type"].startswith("text/html")
    assert broken.data.lstrip().startswith(b"<html")
    assert sink.events == []
    assert [log.fault for log in sink.requests] == ["random:429", f"random:{broken.status}"]


def test_random_413_hang_and_reset(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.set_fault_rates(seed=3, rate_413=1.0)
    too_large = post(http, sink, [event(1)])
    assert too_large.status == 413
    assert answer(too_large)["error"] == "request exceeds max limit of 2097152 bytes"
    sink.set_fault_rates(seed=3, rate_hang=1.0, hang_seconds=0.2)
    with pytest.raises(ReadTimeoutError):
        post(http, sink, [event(1)], timeout=0.05)
    sink.set_fault_rates(seed=3, rate_reset=1.0)
    with pytest.raises(ProtocolError):
        post(http, sink, [event(1)])
    sink.set_fault_rates(seed=3)  # all rates 0: faults off
    assert post(http, sink, [event(1)]).status == 200
    assert [log.fault for log in sink.requests] == ["random:413", "random:hang", "random:reset", None]


def test_random_drip_and_unconfirmed_200(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.set_fault_rates(seed=4, rate_drip=1.0, drip_seconds=0.001)
    dripped = [post(http, sink, [event(n)]) for n in range(6)]
    assert [answer(response)["num_records_imported"] for response in dripped] == [1] * 6
    assert len(sink.events) == 6
    sink.set_fault_rates(seed=4, rate_unconfirmed=1.0)
    unconfirmed = [post(http, sink, [event(n + 6)]) for n in range(6)]
    assert {response.status for response in unconfirmed} == {200}
    assert len(sink.events) == 6
    faults = [log.fault for log in sink.requests]
    assert set(faults[:6]) == {"random:drip", "random:drip-headers"}  # both kinds come up
    assert set(faults[6:]) == {"random:portal", "random:miscount"}


def test_scripted_faults_take_precedence_over_random_ones(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.set_fault_rates(seed=5, rate_429=1.0)
    sink.fail_next(500)
    assert post(http, sink, [event(1)]).status == 500
    assert post(http, sink, [event(1)]).status == 429


def test_set_fault_rates_refuses_impossible_rates(sink: MixpanelSink) -> None:
    with pytest.raises(ValueError, match="rates"):
        sink.set_fault_rates(seed=1, rate_429=0.7, rate_5xx=0.7)
    with pytest.raises(ValueError, match="rates"):
        sink.set_fault_rates(seed=1, rate_reset=-0.1)
    with pytest.raises(ValueError, match="rates"):
        sink.set_fault_rates(seed=1, rate_drip=0.6, rate_unconfirmed=0.6)


# --- lifecycle and CLI ---------------------------------------------------------------------------------


def test_sink_stops_with_idle_connections_open_and_restarts_on_the_same_port(http: urllib3.PoolManager) -> None:
    restartable = MixpanelSink(clock=lambda: NOW).start()
    try:
        url = restartable.url
        assert post(http, restartable, [event(1)]).status == 200  # leaves a keep-alive connection open
        started = time.monotonic()
        restartable.stop()
        assert time.monotonic() - started < 2
        http.clear()
        restartable.start()
        assert restartable.url == url
        assert post(http, restartable, [event(2)]).status == 200
        assert len(restartable.events) == 2
        with pytest.raises(RuntimeError, match="already"):
            restartable.start()
    finally:
        restartable.stop()


def test_sink_cli_prints_url_and_env_and_stops_on_ctrl_c(http: urllib3.PoolManager) -> None:
    command = [sys.executable, "-m", "localdev.sink", "--port", "0", "--max-bytes", "5000"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(7)]
            url = lines[0].split()[4]
            assert url.startswith("http://127.0.0.1:")
            assert f"  export MIXPANEL_API_URL={url}\n" in lines
            assert "  export MIXPANEL_SERVICE_ACCOUNT_SECRET=sink-secret\n" in lines
            assert http.request("GET", f"{url}/stats").status == 200
            big = post(http, url, [event(n, padding="x" * 1000) for n in range(10)])
            assert big.status == 413
        finally:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped" in out
