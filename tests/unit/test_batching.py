from __future__ import annotations

import json

from mixpanel_forwarder.batching import Batch, Batcher


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
