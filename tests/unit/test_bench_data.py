"""The benchmark's events: seeded, varied in shape, and every one importable by ours and by the naive loop."""

from __future__ import annotations

import copy
import time

import orjson
import pytest

from bench import data
from bench.naive import ready
from localdev.sink.imports import dedup_key
from mixpanel_forwarder.model import Item
from mixpanel_forwarder.normalize import normalize

EVENTS = data.make_events(2000)


def test_the_same_seed_gives_the_same_events_and_a_longer_list_starts_with_a_shorter_one() -> None:
    assert data.make_events(300) == EVENTS[:300]
    assert data.make_events(2000) == EVENTS
    assert data.make_events(300, seed=data.SEED + 1) != EVENTS[:300]


def test_every_event_is_valid_for_ours_and_for_naive_once_made_ready() -> None:
    now_ms = int(time.time() * 1000)
    for index, event in enumerate(EVENTS):
        sent = normalize(Item(orjson.loads(orjson.dumps(event)), f"record-{index}", None), now_ms)
        dedup_key(sent, now_ms / 1000)  # the sink's strict-mode checks: raises on an event Mixpanel refuses
        dedup_key(ready(copy.deepcopy(event), "record", index), now_ms / 1000)


@pytest.mark.parametrize(
    ("shape", "low", "high"),
    [
        ("null value", 0.1, 0.3),
        ("list of numbers", 0.08, 0.25),
        ("list of objects", 0.15, 0.35),
        ("nested object", 0.25, 0.5),
        ("nesting depth 3", 0.02, 0.1),
        ("no $insert_id", 0.05, 0.15),
    ],
)
def test_each_shape_appears_at_a_realistic_rate(shape: str, low: float, high: float) -> None:
    assert low <= data.data_stats(EVENTS).mix[shape] <= high


def test_times_come_in_every_format_and_size_and_property_count_stay_near_the_old_data() -> None:
    stats = data.data_stats(EVENTS)
    assert all(share >= 0.02 for share in stats.time_formats.values()), stats.time_formats
    assert sum(stats.time_formats.values()) == pytest.approx(1.0)
    assert 500 <= stats.mean_event_bytes <= 600
    assert 14 <= stats.mean_properties <= 16
