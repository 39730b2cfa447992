"""The sink's rate limit over a rolling window and its schedule of outages, over real loopback HTTP, on a clock the
tests move by hand (so nothing here waits on wall time to pass)."""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import HTTPError, ProtocolError

from localdev.sink import MixpanelSink, Outage
from tests.manual_clock import ManualClock

NOW = 1_764_000_000.0
STRICT = "strict=1&project_id=4242"
AUTH = urllib3.make_headers(basic_auth="sink-user:sink-secret")
RATE_LIMITED = {
    "code": 429,
    "error": "Project exceeded rate limits. Please retry the request with exponential backoff.",
    "status": "Too Many Requests",
}


def event(n: int, **props: Any) -> dict[str, Any]:
    properties = {"time": int(NOW) - 60, "distinct_id": f"user-{n}", "$insert_id": f"id-{n}", **props}
    return {"event": f"Event {n}", "properties": properties}


def events(first: int, count: int) -> list[dict[str, Any]]:
    return [event(n) for n in range(first, first + count)]


def update(distinct_id: str) -> dict[str, Any]:
    return {"$token": "sink-token", "$distinct_id": distinct_id, "$set": {"plan": "pro"}}


def post(
    http: urllib3.PoolManager,
    sink: MixpanelSink,
    batch: Any,
    *,
    path: str = "/import",
    compress: bool = False,
    timeout: float = 5.0,
) -> urllib3.BaseHTTPResponse:
    body = json.dumps(batch).encode()
    headers = {"Content-Type": "application/json", **AUTH}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    query = STRICT if path == "/import" else "verbose=1"
    return http.request("POST", f"{sink.url}{path}?{query}", body=body, headers=headers, timeout=timeout)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` (a handler thread's progress) with a generous bound: CI runs on two busy cores."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def faults(sink: MixpanelSink) -> list[tuple[int, str | None]]:
    return [(log.status, log.fault) for log in sink.requests]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def sink(clock: ManualClock) -> Iterator[MixpanelSink]:
    with MixpanelSink(clock=clock) as running:
        yield running


class Posting:
    """One POST from a thread of its own, for answers the sink holds back."""

    def __init__(self, sink: MixpanelSink, batch: Any, timeout: float = 30.0) -> None:
        self.response: urllib3.BaseHTTPResponse | None = None
        self.error: BaseException | None = None
        self._pool = urllib3.PoolManager(retries=False)
        self._thread = threading.Thread(target=self._run, args=(sink, batch, timeout), daemon=True)
        self._thread.start()

    def _run(self, sink: MixpanelSink, batch: Any, timeout: float) -> None:
        try:
            self.response = post(self._pool, sink, batch, timeout=timeout)
        except HTTPError as failed:
            self.error = failed

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self) -> None:
        self._thread.join(10)
        assert self.done, "the held request was never answered"
        self._pool.clear()


def assert_held(posting: Posting, clock: ManualClock) -> None:
    """The request is held: its handler has read the clock twice more since, and still not answered."""
    seen = clock.reads
    wait_until(lambda: clock.reads >= seen + 2, "the held request read the sink's clock again")
    assert not posting.done


def held_then_answered(
    sink: MixpanelSink, clock: ManualClock, held_at: list[float], released_at: float
) -> urllib3.BaseHTTPResponse:
    """The answer to a request the sink holds: still unanswered with its clock at each of `held_at` (seconds after
    NOW), answered once the clock reaches `released_at`."""
    posting = Posting(sink, [event(0)])
    wait_until(lambda: len(sink.requests) == 1, "the sink took the request")
    for offset in held_at:
        clock.at(offset)
        assert_held(posting, clock)
    clock.at(released_at)
    posting.join()
    assert posting.response is not None
    return posting.response


# --- the rate limit ------------------------------------------------------------------------------------


def test_rate_limit_admits_up_to_the_limit_and_refuses_beyond_with_429_importing_nothing(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    sink.set_rate_limit(1.0, events=10)
    assert post(http, sink, events(0, 6)).status == 200
    assert post(http, sink, events(6, 4)).status == 200
    refused = post(http, sink, events(10, 1))
    assert refused.status == 429
    assert json.loads(refused.data) == RATE_LIMITED
    assert "Retry-After" not in refused.headers  # Mixpanel documents none
    assert len(sink.events) == 10
    assert faults(sink) == [(200, None), (200, None), (429, "rate-limit")]
    assert (sink.requests[-1].events, sink.requests[-1].imported) == (1, 0)
    stats = sink.stats()
    assert stats["by_status"] == {"200": 2, "429": 1}
    assert stats["by_fault"] == {"rate-limit": 1}


def test_rate_limit_frees_what_each_request_took_as_the_window_rolls(
    sink: MixpanelSink, http: urllib3.PoolManager, clock: ManualClock
) -> None:
    sink.set_rate_limit(1.0, events=10)
    assert post(http, sink, events(0, 6)).status == 200
    clock.at(0.5)
    assert post(http, sink, events(6, 4)).status == 200
    clock.at(0.75)
    assert post(http, sink, events(10, 1)).status == 429
    clock.at(1.0)  # the first request's 6 events leave the window, the second's 4 stay
    assert post(http, sink, events(10, 6)).status == 200
    assert post(http, sink, events(16, 1)).status == 429
    clock.at(1.5)
    assert post(http, sink, events(16, 4)).status == 200
    assert len(sink.events) == 20


def test_rate_limit_refuses_a_request_larger_than_the_limit_even_in_an_empty_window(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    sink.set_rate_limit(1.0, events=10)
    assert post(http, sink, events(0, 11)).status == 429
    assert post(http, sink, events(0, 10)).status == 200


def test_rate_limit_counts_uncompressed_bytes_even_gzipped(
    sink: MixpanelSink, http: urllib3.PoolManager, clock: ManualClock
) -> None:
    first, second = events(0, 20), events(20, 20)
    sizes = [len(json.dumps(batch).encode()) for batch in (first, second)]
    sink.set_rate_limit(60.0, uncompressed_bytes=sum(sizes) - 1)
    assert post(http, sink, first, compress=True).status == 200
    assert post(http, sink, second, compress=True).status == 429  # far under the limit gzipped, over it unpacked
    assert [log.bytes_raw for log in sink.requests] == sizes
    clock.at(60.0)
    assert post(http, sink, second, compress=True).status == 200
    assert len(sink.events) == 40


def test_rate_limit_counts_events_that_fail_validation_as_mixpanel_does(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    sink.set_rate_limit(1.0, events=3)
    invalid = event(0, time=-1)
    assert post(http, sink, [invalid, event(1)]).status == 400  # one imported, two counted
    assert post(http, sink, [event(2)]).status == 200
    assert post(http, sink, [event(3)]).status == 429
    assert len(sink.events) == 2


def test_rate_limit_never_over_admits_under_concurrent_requests(sink: MixpanelSink) -> None:
    sink.set_rate_limit(60.0, events=50)
    clients = 20
    barrier = threading.Barrier(clients)
    statuses: list[int] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        with urllib3.PoolManager(retries=False, timeout=10.0) as pool:
            pool.request("GET", f"{sink.url}/stats")  # connect before the barrier: the posts then race for real
            barrier.wait(10)
            status = post(pool, sink, events(worker * 5, 5)).status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=client, args=(worker,)) for worker in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200] * 10 + [429] * 10
    assert len(sink.events) == 50
    assert sink.stats()["by_fault"] == {"rate-limit": 10}


def test_rate_limit_covers_profile_endpoints_only_when_named(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.set_rate_limit(1.0, events=1)
    assert post(http, sink, [update("a"), update("b")], path="/engage").status == 200  # /import's limit only
    sink.set_rate_limit(1.0, events=2, endpoints=("/engage", "/groups"))
    assert post(http, sink, events(0, 5)).status == 200
    assert post(http, sink, [update("c"), update("d")], path="/engage").status == 200
    refused = post(http, sink, [update("e")], path="/engage")
    assert (refused.status, json.loads(refused.data)) == (429, RATE_LIMITED)
    assert set(sink.users) == {"a", "b", "c", "d"}
    assert sink.stats()["engage"]["by_fault"] == {"rate-limit": 1}


def test_rate_limit_refusal_leaves_a_scripted_reject_for_the_next_admitted_import(
    sink: MixpanelSink, http: urllib3.PoolManager, clock: ManualClock
) -> None:
    sink.set_rate_limit(1.0, events=1)
    assert post(http, sink, [event(0)]).status == 200
    sink.reject_next()
    assert post(http, sink, [event(1)]).status == 429
    clock.at(1.0)
    assert post(http, sink, [event(1)]).status == 400
    assert faults(sink) == [(200, None), (429, "rate-limit"), (400, "reject")]


def test_clear_empties_the_window_and_keeps_the_limit_and_clear_rate_limit_lifts_it(
    sink: MixpanelSink, http: urllib3.PoolManager
) -> None:
    sink.set_rate_limit(1.0, events=1)
    assert post(http, sink, [event(0)]).status == 200
    assert post(http, sink, [event(1)]).status == 429
    sink.clear()
    assert post(http, sink, [event(1)]).status == 200
    assert post(http, sink, [event(2)]).status == 429
    sink.clear_rate_limit()
    assert post(http, sink, events(2, 5)).status == 200


@pytest.mark.parametrize(
    "arguments",
    [
        {"window_s": 0, "events": 1},
        {"window_s": float("inf"), "events": 1},
        {"window_s": 1},
        {"window_s": 1, "events": 0},
        {"window_s": 1, "uncompressed_bytes": -5},
        {"window_s": 1, "events": 1, "endpoints": ()},
        {"window_s": 1, "events": 1, "endpoints": ("/track",)},
    ],
)
def test_set_rate_limit_refuses_an_impossible_limit(sink: MixpanelSink, arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"window_s|endpoint"):
        sink.set_rate_limit(**arguments)


# --- outages -------------------------------------------------------------------------------------------


def test_outage_answers_5xx_between_start_and_end_and_normally_outside(
    sink: MixpanelSink, http: urllib3.PoolManager, clock: ManualClock
) -> None:
    sink.schedule_outage(NOW + 10, NOW + 20)
    assert post(http, sink, [event(0)]).status == 200
    clock.at(10)
    assert sink.is_down()
    answers = [post(http, sink, [event(n)]) for n in (1, 2, 3)]
    assert [response.status for response in answers] == [503, 502, 503]  # a balancer with no healthy target
    assert all(response.headers["Content-Type"].startswith("text/html") for response in answers)
    assert http.request("GET", f"{sink.url}/stats").status == 200  # the sink's own pages stay up
    clock.at(20)
    assert not sink.is_down()
    assert post(http, sink, [event(4)]).status == 200
    assert [e["properties"]["$insert_id"] for e in sink.events] == ["id-0", "id-4"]
    assert faults(sink) == [(200, None), (503, "outage:503"), (502, "outage:502"), (503, "outage:503"), (200, None)]
    assert sink.outages == [Outage(NOW + 10, NOW + 20, requests=3)]


def test_outage_comes_before_scripted_faults_and_its_requests_never_count_toward_the_rate_limit(
    sink: MixpanelSink, http: urllib3.PoolManager, clock: ManualClock
) -> None:
    sink.schedule_outage(NOW, NOW + 10)
    sink.fail_next(500)
    sink.set_rate_limit(60.0, events=1)
    assert [post(http, sink, [event(n)]).status for n in (0, 1)] == [503, 502]
    clock.at(10)
    assert post(http, sink, [event(2)]).status == 500  # the scripted fault waited for a request that got through
    assert post(http, sink, [event(3)]).status == 200  # neither the outage's requests nor the fault's counted
    assert post(http, sink, [event(4)]).status == 429
    assert sink.stats()["by_fault"] == {"fail:500": 1, "outage:502": 1, "outage:503": 1, "rate-limit": 1}


def test_outage_resets_the_connection(sink: MixpanelSink, http: urllib3.PoolManager, clock: ManualClock) -> None:
    sink.schedule_outage(NOW, NOW + 10, "reset")
    with pytest.raises(ProtocolError) as raised:
        post(http, sink, [event(0)])
    assert isinstance(raised.value.args[1], ConnectionResetError)
    clock.at(10)
    assert post(http, sink, [event(0)]).status == 200
    assert faults(sink) == [(0, "outage:reset"), (200, None)]


def test_outage_hang_is_held_until_the_outage_ends_then_answers_503(sink: MixpanelSink, clock: ManualClock) -> None:
    sink.schedule_outage(NOW, NOW + 3600, "hang")
    response = held_then_answered(sink, clock, held_at=[0, 3599.5], released_at=3600)
    assert response.status == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert faults(sink) == [(503, "outage:hang")]
    assert sink.events == []


def test_outage_hang_ends_after_hang_s_when_that_comes_first(sink: MixpanelSink, clock: ManualClock) -> None:
    sink.schedule_outage(NOW, NOW + 3600, "hang", hang_s=5)
    assert held_then_answered(sink, clock, held_at=[4.5], released_at=5).status == 503
    assert sink.is_down()  # released by hang_s, not by the end


def test_outage_hang_is_cut_short_by_stop(clock: ManualClock) -> None:
    hanging = MixpanelSink(clock=clock).start()
    try:
        hanging.schedule_outage(NOW, NOW + 3600, "hang")
        held = Posting(hanging, [event(0)])
        wait_until(lambda: len(hanging.requests) == 1, "the sink took the request")
        assert_held(held, clock)
    finally:
        started = time.monotonic()
        hanging.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 5, f"stop() took {stopped_in:.1f}s with a request held for an hour of its clock"
    held.join()
    assert held.response is None or held.response.status == 503  # the 503, or a socket stop() shut first
    assert faults(hanging) == [(503, "outage:hang")]


def test_flapping_goes_down_and_up_in_turn_until_its_end(
    sink: MixpanelSink, http: urllib3.PoolManager, clock: ManualClock
) -> None:
    sink.schedule_flapping(NOW, NOW + 30, down_s=10, up_s=5)
    down = [0, 9.5, 15, 24.5]
    up = [-1, 10, 14.5, 25, 29.5, 30, 45]
    assert [sink.is_down(at=NOW + t) for t in down] == [True] * len(down)
    assert [sink.is_down(at=NOW + t) for t in up] == [False] * len(up)
    statuses = []
    for offset in (0, 10, 15, 25):
        clock.at(offset)
        statuses.append(post(http, sink, [event(int(offset))]).status)
    assert statuses == [503, 200, 502, 200]
    assert sink.outages[0].requests == 2


def test_flapping_hang_is_held_until_its_down_spell_ends(sink: MixpanelSink, clock: ManualClock) -> None:
    sink.schedule_flapping(NOW, NOW + 3600, down_s=10, up_s=5, mode="hang")
    assert held_then_answered(sink, clock, held_at=[9.5], released_at=10).status == 503


def test_outage_for_one_endpoint_leaves_the_others_up(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.schedule_outage(NOW, NOW + 10, endpoints=("/engage",))
    assert (sink.is_down("/engage"), sink.is_down("/import"), sink.is_down("/groups")) == (True, False, False)
    assert post(http, sink, [update("u")], path="/engage").status == 503
    assert post(http, sink, [event(0)]).status == 200
    assert sink.users == {}
    assert sink.stats()["engage"]["by_fault"] == {"outage:503": 1}


def test_mixed_outage_is_reproducible_from_its_seed() -> None:
    def run(seed: int) -> list[str | None]:
        # A clock that moves on at each read releases each hang at once; the outage lasts far longer than the run.
        with MixpanelSink(clock=ManualClock(NOW, tick=1.0)) as sink, urllib3.PoolManager(retries=False) as pool:
            sink.schedule_outage(NOW - 1, NOW + 1e6, "mixed", hang_s=1, seed=seed)
            for n in range(12):
                with contextlib.suppress(ProtocolError):  # a reset
                    post(pool, sink, [event(n)])
            return [log.fault for log in sink.requests]

    first = run(7)
    assert first == run(7)
    assert {"outage:reset", "outage:hang"} <= set(first)
    assert {"outage:503", "outage:502"} & set(first)
    assert run(8) != first


def test_clear_forgets_scheduled_outages(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.schedule_outage(NOW, NOW + 10)
    sink.clear()
    assert sink.outages == []
    assert post(http, sink, [event(0)]).status == 200
    sink.schedule_outage(NOW, NOW + 10, "reset")
    sink.clear_outages()
    assert not sink.is_down()


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (lambda sink: sink.schedule_outage(NOW + 1, NOW), "start before its end"),
        (lambda sink: sink.schedule_outage(NOW, float("inf")), "start before its end"),
        (lambda sink: sink.schedule_outage(NOW, NOW + 1, "down"), "mode"),
        (lambda sink: sink.schedule_outage(NOW, NOW + 1, endpoints=("/track",)), "endpoint"),
        (lambda sink: sink.schedule_outage(NOW, NOW + 1, "hang", hang_s=0), "hang_s"),
        (lambda sink: sink.schedule_flapping(NOW, NOW + 1, down_s=0, up_s=1), "down_s and up_s"),
        (lambda sink: sink.is_down("/track"), "endpoint"),
    ],
)
def test_outage_schedule_refuses_what_cannot_happen(
    sink: MixpanelSink, schedule: Callable[[MixpanelSink], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        schedule(sink)
    assert sink.outages == []


# --- requests in flight --------------------------------------------------------------------------------


def test_paused_requests_are_held_in_flight_until_resumed(sink: MixpanelSink, http: urllib3.PoolManager) -> None:
    sink.flight.pause()
    held = [Posting(sink, [event(n)]) for n in range(3)]

    assert sink.flight.wait_for(3, "/import", timeout=10), "three requests held in flight at once"
    assert (sink.flight.now("/import"), sink.flight.peak("/import")) == (3, 3)
    assert not any(posting.done for posting in held)
    assert post(http, sink, [update("u1")], path="/engage").status == 200  # another endpoint is not paused
    assert sink.flight.peak("/engage") == 1

    sink.flight.resume()
    for posting in held:
        posting.join()
        assert posting.response is not None
        assert posting.response.status == 200
    wait_until(lambda: sink.flight.now("/import") == 0, "the answered requests left the flight")
    assert sink.flight.peak("/import") == 3
    assert len(sink.events) == 3
    sink.flight.reset_peak()
    assert sink.flight.peak("/import") == 0
    assert post(http, sink, [event(9)]).status == 200
    assert sink.flight.peak("/import") == 1


def test_stopping_the_sink_lets_go_of_paused_requests(sink: MixpanelSink) -> None:
    sink.flight.pause()
    posting = Posting(sink, [event(0)])
    assert sink.flight.wait_for(1, "/import", timeout=10)

    sink.stop()
    posting.join()
    wait_until(lambda: sink.flight.now("/import") == 0, "the held request left the flight")
