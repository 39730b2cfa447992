"""Batching: requests within a count and a byte cap, runs of events cut where single events would be, profile batches
opened with the token."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mixpanel_forwarder.batching import Batch, Batcher
from mixpanel_forwarder.model import Kind


def fill(batcher: Batcher, bodies: list[bytes]) -> list[Batch]:
    batches = [b for i, body in enumerate(bodies) if (b := batcher.add(i, body)) is not None]
    last = batcher.flush()
    return [*batches, last] if last is not None else batches


def test_batcher_caps_event_count() -> None:
    batches = fill(Batcher(max_events=3, max_bytes=10_000), [b"{}"] * 7)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [b.indices for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]


def test_batcher_caps_uncompressed_body_bytes_exactly() -> None:
    body = b'{"a":"' + b"x" * 90 + b'"}'  # 98 bytes
    batches = fill(Batcher(max_events=2000, max_bytes=2 + 98 * 3 + 2), [body] * 7)
    assert [len(b) for b in batches] == [3, 3, 1]
    for batch in batches:
        payload = batch.payload()
        assert len(payload) == batch.size <= 2 + 98 * 3 + 2
        assert json.loads(payload) == [json.loads(body)] * len(batch)


def test_batcher_sends_an_event_larger_than_the_cap_alone() -> None:
    batches = fill(Batcher(max_events=10, max_bytes=50), [b"{}", b'{"big":"' + b"y" * 100 + b'"}', b"{}"])
    assert [b.indices for b in batches] == [[0], [1], [2]]


def test_batcher_flush_of_nothing_is_none() -> None:
    assert Batcher(max_events=10, max_bytes=100).flush() is None


def test_batch_split_halves_keep_order_and_sizes() -> None:
    bodies = [b"{}", b"[1]", b"{}", b"[22]", b'{"a":1}']
    batch = fill(Batcher(max_events=10, max_bytes=10_000), bodies)[0]
    first, second = batch.split()
    assert first.indices + second.indices == [0, 1, 2, 3, 4]
    assert len(first.payload()) == first.size
    assert len(second.payload()) == second.size
    assert json.loads(first.payload()) + json.loads(second.payload()) == [json.loads(b) for b in bodies]


def test_batch_body_cuts_out_each_event() -> None:
    bodies = [b'{"n":1}', b"[]", b'{"n":333}']
    batch = fill(Batcher(max_events=10, max_bytes=10_000), bodies)[0]
    assert [batch.body(i) for i in range(3)] == bodies


def test_empty_batch_is_an_empty_array() -> None:
    from mixpanel_forwarder.batching import Batch

    assert Batch().payload() == b"[]"
    assert Batch().size == 2


def fill_in_runs(batcher: Batcher, bodies: list[bytes], runs: list[int]) -> list[Batch]:
    """As the pipeline fills: runs of events offered whole, one by one where a run does not fit."""
    batches: list[Batch] = []
    start = 0
    for length in runs:
        indices = list(range(start, min(start + length, len(bodies))))
        start += length
        if not indices:
            continue
        added, full = batcher.add_run(indices, b"[" + b",".join(bodies[i] for i in indices) + b"]")
        if not added:
            assert full is None
            full_ones = [b for i in indices if (b := batcher.add(i, bodies[i])) is not None]
            batches += full_ones
        elif full is not None:
            batches.append(full)
    last = batcher.flush()
    return [*batches, last] if last is not None else batches


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=60),
    st.lists(st.integers(1, 9), min_size=1, max_size=40),
    st.integers(1, 7),
    st.integers(8, 200),
)
def test_runs_cut_batches_where_one_by_one_would(sizes: list[int], runs: list[int], events: int, cap: int) -> None:
    bodies = [b'"' + b"x" * size + b'"' for size in sizes]
    runs = [*runs, len(bodies)]  # whatever the runs leave goes in one last run
    one_by_one = fill(Batcher(events, cap), bodies)
    in_runs = fill_in_runs(Batcher(events, cap), bodies, runs)
    assert [b.indices for b in in_runs] == [b.indices for b in one_by_one]
    assert [bytes(b.payload()) for b in in_runs] == [bytes(b.payload()) for b in one_by_one]


def test_a_run_that_would_cross_a_batch_is_refused_untouched() -> None:
    batcher = Batcher(max_events=3, max_bytes=10_000)
    assert batcher.add_run([0, 1], b"[{},{}]") == (True, None)
    assert batcher.room() == 1
    assert batcher.add_run([2, 3], b"[{},{}]") == (False, None)
    added, full = batcher.add_run([2], b"[{}]")
    assert (added, full) == (True, None)
    assert batcher.room() == 3  # full: the next event starts a new batch
    added, full = batcher.add_run([3, 4], b"[[],[]]")
    assert added
    assert full is not None
    assert full.indices == [0, 1, 2]
    assert full.payload() == b"[{},{},{}]"


def test_batch_body_reads_events_back_from_runs_and_single_adds() -> None:
    batch = Batch()
    batch.add_run([0, 1], b'[{"n":1},[2,3]]')
    batch.add(2, b'{"s":"\\u00e9"}')
    assert [batch.body(i) for i in range(3)] == [b'{"n":1}', b"[2,3]", '{"s":"é"}'.encode()]
    assert json.loads(batch.payload()) == [{"n": 1}, [2, 3], {"s": "é"}]


def test_a_profile_batch_opens_each_update_with_the_token_by_position_never_by_its_bytes() -> None:
    # A producer's own values may hold what looks like a token field, or braces: none of it is touched.
    updates = [
        {"$distinct_id": "u1", "$set": {"note": '{"$token":"theirs",'}},
        {"$distinct_id": '{"$token":', "$set": {"{": "}"}},
        {"$distinct_id": "u3", "$unset": ["$token"]},
    ]
    batcher = Batcher(max_events=10, max_bytes=10_000, kind=Kind.USER)
    for index, update in enumerate(updates):
        assert batcher.add(index, json.dumps(update).encode(), f"user:{index}") is None
    batch = batcher.flush()
    assert batch is not None
    opening = b'{"$token":"ours",'

    expected = [{"$token": "ours", **update} for update in updates]
    assert json.loads(batch.opened_with(opening)) == expected
    assert json.loads(batch.payload()) == updates  # closed for /import's way of sending: the same again
    assert json.loads(batch.opened_with(opening)) == expected
    first, second = batch.split()
    assert json.loads(first.opened_with(opening)) + json.loads(second.opened_with(opening)) == expected
    assert Batch(Kind.USER).opened_with(opening) == b"[]"


def test_a_profile_batcher_counts_the_bytes_each_update_gains_when_sent() -> None:
    body = b'{"$distinct_id":"u","$set":{"a":"' + b"x" * 64 + b'"}}'  # 100 bytes
    opening = b'{"$token":"0123456789",'  # 22 bytes more than the "{" it replaces
    cap = 450  # four updates take 405 bytes without the token, 493 with it; three 370
    batches = fill(Batcher(max_events=2000, max_bytes=cap, kind=Kind.USER, added=22), [body] * 7)
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert [len(batch.opened_with(opening)) for batch in batches] == [370, 370, 124]
    assert len(fill(Batcher(max_events=2000, max_bytes=cap, kind=Kind.USER), [body] * 7)[0]) == 4  # would be over
