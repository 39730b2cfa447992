"""Property-based: whatever a Segment-spec or Amplitude message holds in each of its fields, and whatever rules
transform it, every message it makes ends in exactly one state and the answer names only batch records: no
crash, no silent drop."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.segment import make_tracks
from mixpanel_forwarder.formats import common_event
from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.messages import MessageRules, Routed, route_item
from mixpanel_forwarder.model import Item
from mixpanel_forwarder.sources import sqs
from mixpanel_forwarder.transform_rules import read_rules
from tests.conftest import FakeParker, FakeSender, make_settings
from tests.unit.test_properties import check, json_values

NOW_S = 1_764_000_100.0
times = st.one_of(json_values, st.sampled_from(["2025-11-24T16:00:00.123Z", "2025-11-24 16:00:00.123456", "", "  "]))
ids = st.one_of(json_values, st.text(min_size=1, max_size=40))
AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_2) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.117",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148",
    "Dalvik/2.1.0 (Linux; U; Android 8.1.0; Android SDK built for x86 Build/OSM1.180201.007)",
)
# A context's sections as libraries fill them, or any JSON where they do not; a user agent, or any value.
_SECTIONS = ("os", "app", "device", "page", "location", "network", "screen", "campaign", "traits", "library")
_CONTEXT_VALUES = {
    **dict.fromkeys(
        _SECTIONS,
        st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(
                    [
                        "name",
                        "version",
                        "type",
                        "token",
                        "model",
                        "url",
                        "referrer",
                        "initial_referrer",
                        "initialReferrer",
                        "country",
                        "city",
                        "region",
                        "latitude",
                        "longitude",
                        "timezone",
                        "wifi",
                        "width",
                    ]
                ),
                json_values,
            ),
        ),
    ),
    "userAgent": st.one_of(json_values, st.sampled_from(AGENTS)),
    "ip": json_values,
    "sessionId": json_values,
    "active": json_values,
    "timezone": json_values,
    "groupId": json_values,
}
contexts = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional=_CONTEXT_VALUES),
)
segment = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "page", "screen", "identify", "group", "alias"])},
    optional={
        "event": json_values,
        "name": json_values,
        "userId": ids,
        "anonymousId": ids,
        "previousId": ids,
        "groupId": ids,
        "messageId": ids,
        "timestamp": times,
        "originalTimestamp": times,
        "sentAt": times,
        "properties": json_values,
        "traits": st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(
                    ["first_name", "lastname", "userName", "city", "state", "country", "address", "email", "$group_id"]
                ),
                json_values,
            ),
        ),
        "context": contexts,
        "request_ip": json_values,
        "session_id": json_values,
    },
)
amplitude = st.fixed_dictionaries(
    {"event_type": st.one_of(st.sampled_from(["Play", "$identify", "$groupidentify"]), json_values)},
    optional={
        "user_id": ids,
        "device_id": ids,
        "event_time": times,
        "$insert_id": ids,
        "uuid": ids,
        "event_properties": json_values,
        "user_properties": st.one_of(
            json_values, st.dictionaries(st.sampled_from(["$set", "$add", "$x"]), json_values)
        ),
        "groups": json_values,
        "group_properties": json_values,
        "ip_address": json_values,
        "country": json_values,
        "client_event_time": times,
        "user_creation_time": times,
        "device_family": json_values,
        "device_type": json_values,
        "dma": json_values,
        "paying": json_values,
        "location_lat": json_values,
        "city": json_values,
    },
)
RULES = read_rules(
    json.dumps(
        {
            "drop_events": ["a*"],
            "drop_properties": ["x", "context.ip"],
            "rename_properties": {"y": "z"},
            "hash_properties": ["z", "$email", "distinct_id"],
            "add_properties": {"pipeline": "p"},
        }
    )
)


def forwarder(transforms: bool) -> Forwarder:
    # With TRANSFORMS, Amplitude events' user_properties also make profile updates (AMPLITUDE_USER_PROPERTIES)
    base = make_settings(transforms=RULES if transforms else None, amplitude_user_properties=transforms)
    assert base.credentials is not None
    credentials = base.credentials._replace(token="tok", hash_key="a-test-key-of-32-characters-long")
    return Forwarder(
        base._replace(credentials=credentials), sender=FakeSender(), parker=FakeParker(), clock=lambda: NOW_S
    )


FORWARDERS = (forwarder(False), forwarder(True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(segment, amplitude), min_size=1, max_size=5))
def test_any_vendor_message_ends_in_exactly_one_state(messages: list[dict[str, Any]]) -> None:
    event = {"Records": [{"messageId": f"m{i}", "body": json.dumps(m)} for i, m in enumerate(messages)]}
    for each in FORWARDERS:
        result = each.forward(sqs, event, None)
        check(result.records, result.response, [f"m{i}" for i in range(len(messages))])
        counts = result.ledger.counts()
        for prefix in ("", "user_updates_", "group_updates_"):
            total = counts["events" if not prefix else prefix[:-1]]
            assert sum(counts[prefix + state] for state in ("imported", "parked", "retry", "filtered")) == total
        assert result.response["batchItemFailures"] == []  # every message imported, parked or filtered


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment)
def test_a_segment_event_in_one_step_is_the_general_paths_exactly(message: dict[str, Any]) -> None:
    item = Item(message, "sqs:m0:0", int(NOW_S * 1000) - 5000)
    one_step = common_event(Item(copy.deepcopy(message), item.key, item.default_time_ms), "auto", int(NOW_S * 1000))
    if one_step is None:
        return  # the general path decides, and says why when it refuses
    [outcome] = route_item(item, MessageRules(int(NOW_S * 1000), "tok"))
    assert isinstance(outcome, Routed)
    assert one_step == (outcome.event if outcome.event is not None else json.loads(outcome.body))


@pytest.mark.parametrize("user_agents", [False, True])
def test_the_benchmarks_track_messages_take_one_step_as_the_general_path_makes_them(user_agents: bool) -> None:
    made = 0
    for n, message in enumerate(make_tracks(300, user_agents=user_agents)):
        item = Item(message, f"sqs:m{n}:0", int(NOW_S * 1000) - 5000)
        one_step = common_event(Item(copy.deepcopy(message), item.key, item.default_time_ms), "auto", int(NOW_S * 1000))
        [outcome] = route_item(item, MessageRules(int(NOW_S * 1000), "tok"))
        assert isinstance(outcome, Routed)
        assert one_step == outcome.event
        made += one_step is not None
    assert made == 300  # realistic tracks all take the one step
