"""An item into the event as sent (times, insert ids, $ip, Mixpanel's limits), and normalize_common agreeing with
normalize."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixpanel_forwarder.errors import Invalid
from mixpanel_forwarder.model import Item
from mixpanel_forwarder.normalize import INVALID_IDS, derive_insert_id, normalize, normalize_common
from mixpanel_forwarder.timefmt import to_epoch_ms

NOW_MS = 1_764_000_000_000  # 2025-11-24
T = 1_764_000_000


def item(payload: Any, key: str = "sqs:m1:0", default_time_ms: int | None = None) -> Item:
    return Item(payload, key, default_time_ms)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_764_000_000, 1_764_000_000_000),
        (1_764_000_000.25, 1_764_000_000_250),
        (1_764_000_000_123, 1_764_000_000_123),
        ("1764000000", 1_764_000_000_000),
        ("2025-11-24T16:00:00Z", 1_764_000_000_000),
        ("2025-11-24T17:00:00+01:00", 1_764_000_000_000),
        ("2025-11-24T16:00:00", 1_764_000_000_000),  # naive is UTC
        ("2025-11-24T16:00:00.123Z", 1_764_000_000_123),
        ("yesterday", None),
        ("2025-13-45", None),  # looks like a date, is none
        ("1234-5", None),
        (" 1764000000.5 ", 1_764_000_000_500),
        (-1_764_000_000, -1_764_000_000_000),
        (1_764_000_000_123.7, 1_764_000_000_123),
        (10**30, 10**30),
        (True, None),
        (float("nan"), None),
        (float("inf"), None),
        (float("-inf"), None),
        ("inf", None),
        (None, None),
        ([1], None),
    ],
)
def test_to_epoch_ms_reads_seconds_millis_and_iso(value: Any, expected: int | None) -> None:
    assert to_epoch_ms(value) == expected


def test_normalize_converts_time_derives_insert_id_and_sets_ip_zero() -> None:
    event = normalize(item({"event": "Signup", "properties": {"time": T, "distinct_id": "u1"}}), NOW_MS)

    assert event == {
        "event": "Signup",
        "properties": {
            "time": 1_764_000_000_000,
            "distinct_id": "u1",
            "$insert_id": derive_insert_id("sqs:m1:0"),
            "ip": 0,
        },
    }


def test_normalize_insert_id_is_deterministic_per_source_position() -> None:
    first = normalize(item({"event": "A", "properties": {"time": T}}, key="sqs:m1:3"), NOW_MS)
    again = normalize(item({"event": "A", "properties": {"time": T}}, key="sqs:m1:3"), NOW_MS)
    other = normalize(item({"event": "A", "properties": {"time": T}}, key="sqs:m1:4"), NOW_MS)

    assert first["properties"]["$insert_id"] == again["properties"]["$insert_id"]
    assert first["properties"]["$insert_id"] != other["properties"]["$insert_id"]
    assert len(first["properties"]["$insert_id"]) <= 36


def test_normalize_keeps_the_events_own_insert_id_and_ip() -> None:
    props = {"time": T, "$insert_id": "abc-123", "ip": "203.0.113.9"}
    event = normalize(item({"event": "A", "properties": props}), NOW_MS)
    assert event["properties"]["$insert_id"] == "abc-123"
    assert event["properties"]["ip"] == "203.0.113.9"


def test_normalize_missing_time_takes_the_envelope_timestamp() -> None:
    event = normalize(item({"event": "A", "properties": {}}, default_time_ms=1_764_000_000_999), NOW_MS)
    assert event["properties"]["time"] == 1_764_000_000_999


def test_normalize_lifts_flat_events_into_properties() -> None:
    event = normalize(item({"event": "A", "distinct_id": "u1", "time": T, "plan": "pro"}), NOW_MS)
    assert event["properties"]["distinct_id"] == "u1"
    assert event["properties"]["plan"] == "pro"
    assert event["properties"]["time"] == 1_764_000_000_000
    assert set(event) == {"event", "properties"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("just a string", "event"),
        ({"properties": {"time": T}}, "event"),
        ({"event": "", "properties": {"time": T}}, "event"),
        ({"event": 7, "properties": {"time": T}}, "event"),
        ({"event": "A", "properties": []}, "properties"),
        ({"event": "A", "properties": {}}, "properties.time"),
        ({"event": "A", "properties": {"time": "soon"}}, "properties.time"),
        ({"event": "A", "properties": {"time": -14_000_000}}, "properties.time"),
        ({"event": "A", "properties": {"time": 31_535_999}}, "properties.time"),
        ({"event": "A", "properties": {"time": NOW_MS + 3_600_001}}, "properties.time"),
        ({"event": "A", "properties": {"time": T, "distinct_id": "undefined"}}, "properties.distinct_id"),
        ({"event": "A", "properties": {"time": T, "distinct_id": "NULL"}}, "properties.distinct_id"),
        ({"event": "A", "properties": {"time": T, "distinct_id": {"id": 1}}}, "properties.distinct_id"),
        ({"event": "A", "properties": {"time": T, "$insert_id": "x" * 37}}, "properties.$insert_id"),
        ({"event": "A", "properties": {"time": T, "$insert_id": "has space"}}, "properties.$insert_id"),
        ({"event": "A", "properties": {"time": T, "$insert_id": "null"}}, "properties.$insert_id"),
        ({"event": "A", "properties": {"time": T, "$insert_id": 12345}}, "properties.$insert_id"),
        ({"event": "A", "properties": {"time": T, **{f"p{i}": i for i in range(256)}}}, "properties"),
        # 253 arrive, 255 would be sent (with $insert_id and ip): Mixpanel takes fewer than 255.
        ({"event": "A", "properties": {"time": T, **{f"p{i}": i for i in range(252)}}}, "properties"),
        (
            {"event": "A", "properties": {"time": T, "deep": {"a": {"b": {"c": {"d": 1}}}}}},
            "properties.deep.a.b.c",
        ),
        ({"event": "A", "properties": {"time": T, "many": list(range(255))}}, "properties.many"),
        (
            {"event": "A", "properties": {"time": T, "wide": {str(i): i for i in range(255)}}},
            "properties.wide",
        ),
        (
            {"event": "A", "properties": {"time": T, "deep": [{"items": list(range(255))}]}},
            "properties.deep.0.items",
        ),
        (
            {"event": "A", "distinct_id": "u1", "properties": {"time": T, "distinct_id": "u2"}},
            "distinct_id",
        ),
    ],
)
def test_normalize_refuses_what_mixpanel_would_with_the_field(payload: Any, field: str) -> None:
    with pytest.raises(Invalid) as raised:
        normalize(item(payload), NOW_MS)
    assert raised.value.field == field


def test_normalize_accepts_empty_distinct_id_and_limits_at_the_edge() -> None:
    # Mixpanel takes "fewer than 255 properties" and arrays "< 255 items", objects "< 255 keys"
    # (shared/reference/mixpanel-import.md): 254 of each, counted as sent ($insert_id and ip added).
    props = {
        "time": NOW_MS + 3_600_000,
        "distinct_id": "",
        "nested": {"a": {"b": {"c": 1}}, "wide": {str(i): i for i in range(254)}},
        "list": list(range(254)),
        **{f"p{i}": i for i in range(248)},
    }
    event = normalize(item({"event": "A", "properties": props}), NOW_MS)
    assert event["properties"]["distinct_id"] == ""
    assert len(event["properties"]) == 254


@pytest.mark.parametrize(("arriving", "accepted"), [(253, True), (254, False)])
def test_normalize_common_counts_properties_as_sent_with_ip(arriving: int, accepted: bool) -> None:
    # time, $insert_id and distinct_id arrive; ip is added: 253 arriving are 254 sent, 254 are 255.
    props = {"time": T, "$insert_id": "id-0123456789", "distinct_id": "u1"}
    props.update({f"p{i}": i for i in range(arriving - len(props))})
    event = {"event": "A", "properties": props}

    fast_input = copy.deepcopy(event)
    fast = normalize_common(fast_input, item(fast_input), NOW_MS)

    assert (fast is not None) is accepted
    if accepted:
        assert fast == normalize(item(copy.deepcopy(event)), NOW_MS)
    else:
        with pytest.raises(Invalid) as raised:
            normalize(item(event), NOW_MS)
        assert raised.value.field == "properties"
        assert "fewer than 255" in raised.value.message


def test_normalize_leaves_a_refused_event_as_it_arrived() -> None:
    payload = {"event": "A", "properties": {"time": 10, "distinct_id": "u1"}}
    with pytest.raises(Invalid):
        normalize(item(payload), NOW_MS)
    assert payload == {"event": "A", "properties": {"time": 10, "distinct_id": "u1"}}


def test_normalize_item_that_failed_to_decode_is_refused_with_its_decode_error() -> None:
    with pytest.raises(Invalid) as raised:
        normalize(Item("{oops", "sqs:m1:0", None, "NDJSON line 2 is not JSON"), NOW_MS)
    assert raised.value.field == "record"
    assert "NDJSON line 2" in raised.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (T, T * 1000),
        (T * 1000 + 7, T * 1000 + 7),
        (T + 0.5, T * 1000 + 500),
        (str(T), T * 1000),
        ("2025-11-24T16:00:00Z", T * 1000),
    ],
)
def test_normalize_writes_every_time_form_as_epoch_milliseconds(raw: Any, expected: int) -> None:
    event = normalize(item({"event": "A", "properties": {"time": raw}}), NOW_MS)
    assert event["properties"]["time"] == expected


# The fast path and the general one must never disagree: whenever normalize_common answers, its event
# is exactly normalize's; whenever normalize refuses, normalize_common passes (None) without touching it.
_good_ids = st.text(alphabet="abcdef0123456789-", min_size=10, max_size=36)
_ids = st.one_of(
    _good_ids,
    _good_ids,
    st.sampled_from(sorted(INVALID_IDS)),
    st.sampled_from(["NULL", "Undefined", "00000000-0000-0000-0000-000000000000", "", " ", "a b"]),
    st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40),
    st.integers(),
    st.none(),
)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
)
_events = st.fixed_dictionaries(
    {
        "event": st.one_of(st.text(min_size=1, max_size=6), st.text(max_size=6), st.integers(), st.just(" x")),
        "properties": st.fixed_dictionaries(
            {},
            optional={
                "time": st.one_of(
                    st.integers(1_600_000_000, NOW_MS // 1000 + 3600),
                    st.integers(1_600_000_000_000, NOW_MS + 3_600_000),
                    st.integers(min_value=-10, max_value=2 * NOW_MS),
                    st.integers(0, 2_000_000_000),
                    st.text(),
                ),
                "$insert_id": _ids,
                "distinct_id": _ids,
                "ip": st.just("203.0.113.1"),
                "nested": _values,
            },
        ),
    },
    optional={"extra": st.integers()},
)


_iso_times = st.builds(
    lambda moment, zone: moment.isoformat() + zone,
    st.datetimes(min_value=datetime(1969, 1, 1), max_value=datetime(2030, 1, 1)),
    st.sampled_from(["", "Z", "+02:00", "-0500"]),
)

# Near the common case: the properties it looks at are mostly there, mostly valid.
_common_events = st.fixed_dictionaries(
    {
        "event": st.one_of(st.text(min_size=1, max_size=6), st.just(" x"), st.just("")),
        "properties": st.fixed_dictionaries(
            {
                "time": st.one_of(
                    st.integers(1_600_000_000, NOW_MS // 1000 + 3700),
                    st.integers(0, 3 * NOW_MS),
                    st.floats(1_600_000_000, NOW_MS / 1000 + 3700),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(0, 3 * NOW_MS).map(str),
                    st.floats(1_600_000_000, NOW_MS / 1000 + 3700).map(lambda seconds: f" {seconds} "),
                    _iso_times,
                    st.text(alphabet="0123456789-:TZ+. e", max_size=30),
                    st.none(),
                ),
                "distinct_id": _ids,
            },
            optional={
                "$insert_id": _ids,  # missing: derived from the item's key
                "ip": st.just("203.0.113.1"),
                "nested": _values,
                "items": st.lists(_values, max_size=300),
            },
        ),
    }
)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_events, _common_events), st.sampled_from([None, NOW_MS - 5000]))
def test_normalize_common_agrees_with_normalize(event: dict[str, Any], default_time_ms: int | None) -> None:
    original = copy.deepcopy(event)
    fast_input = copy.deepcopy(event)
    fast = normalize_common(fast_input, item(fast_input, "sqs:m:0", default_time_ms), NOW_MS)
    general_input = copy.deepcopy(event)
    try:
        general: dict[str, Any] | None = normalize(item(general_input, "sqs:m:0", default_time_ms), NOW_MS)
    except Invalid:
        general = None
    if fast is not None:
        assert fast == general
        assert list(fast["properties"]) == list(general["properties"])  # the same bytes are sent
    else:
        untouched = copy.deepcopy(original)
        assert normalize_common(untouched, item(untouched, "sqs:m:0", default_time_ms), NOW_MS) is None
        assert untouched == original


def test_a_typical_event_takes_the_common_path_with_the_same_result() -> None:
    from localdev.eventgen import sample_event

    for i in range(20):
        sample = sample_event(i)
        fast = normalize_common(sample, item(sample), NOW_MS)
        assert fast is not None
        assert fast == normalize(item(sample_event(i)), NOW_MS)
        assert fast["properties"]["ip"] == 0


def test_names_starting_with_whitespace_or_a_dollar_take_the_general_path() -> None:
    from mixpanel_forwarder.normalize import _WHITESPACE

    assert set(_WHITESPACE) == {chr(code) for code in range(0x110000) if chr(code).isspace()}
    for name in ("\u3000Signup", "$identify", "$mp_web_page_view"):
        event = {"event": name, "properties": {"time": T, "$insert_id": "id-0123456789", "distinct_id": "u1"}}
        assert normalize_common(event, item(event), NOW_MS) is None
