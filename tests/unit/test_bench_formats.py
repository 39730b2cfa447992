"""Issue 12's benchmark data: Segment track messages that the forwarder reads as Segment and maps to events Mixpanel
takes, and Mixpanel events for the seven-rule TRANSFORMS whose filtered count the benchmark expects exactly."""

from __future__ import annotations

import json
import time

import orjson

from bench import data, events, segment, tables, transformed, vocabulary
from localdev.sink.imports import dedup_key
from mixpanel_forwarder.formats import FormatOptions, read_messages, recognise
from mixpanel_forwarder.messages import MessageRules, route
from mixpanel_forwarder.model import FORMAT_SEGMENT, Item, Kind
from mixpanel_forwarder.transform_rules import read_rules
from mixpanel_forwarder.transforms import Filtered, Transforms

TRACKS = segment.make_tracks(2000)
RULE_EVENTS = transformed.make_events_for_rules(2000)


def test_track_messages_are_seeded_and_about_the_events_users() -> None:
    assert segment.make_tracks(300) == TRACKS[:300]
    assert segment.make_tracks(300, seed=vocabulary.SEED + 1) != TRACKS[:300]
    user_ids = {str(e["properties"]["distinct_id"]) for e in events.make_events(2000)}
    assert {t["userId"] for t in TRACKS if t.get("userId")} & user_ids


def test_every_track_message_is_read_as_segment_and_maps_to_an_event_mixpanel_takes() -> None:
    now_ms = int(time.time() * 1000)
    rules = MessageRules(now_ms, "token")
    for index, track in enumerate(TRACKS):
        payload = orjson.loads(orjson.dumps(track))
        assert recognise(payload) == FORMAT_SEGMENT
        (message,) = read_messages(Item(payload, f"sqs:{index}:0", None), "auto", FormatOptions())
        assert message.kind is Kind.EVENT
        assert message.refusal is None
        event = orjson.loads(route(message.item, Kind.EVENT, rules).body)
        dedup_key(event, now_ms / 1000)  # the sink's strict-mode checks: raises on an event Mixpanel refuses
        assert event["event"] == track["event"]
        assert event["properties"]["distinct_id"] == (track.get("userId") or track["anonymousId"])


def test_track_messages_vary_as_the_libraries_send_them() -> None:
    stats = segment.track_stats(TRACKS)
    assert 900 <= stats["mean bytes"] <= 1400
    assert 10 <= stats["mean properties"] <= 15
    for share in ("anonymous (no userId)", "messageId over 36 characters (insert id derived)", "with campaign"):
        assert 0.1 <= stats[share] <= 0.6, (share, stats[share])
    assert {len(t["messageId"]) for t in TRACKS} == {16, 36, 59}


def test_the_rules_filter_out_exactly_what_the_benchmark_expects_and_touch_the_rest() -> None:
    rules = read_rules(json.dumps(transformed.RULES))
    assert rules is not None
    transforms = Transforms(rules, transformed.HASH_KEY)
    outcomes = [transforms.event(e["event"], e["properties"]) for e in RULE_EVENTS]
    dropped = sum(type(outcome) is Filtered for outcome in outcomes)
    assert transformed.filtered(RULE_EVENTS) == {"drop_events": dropped}
    assert 0.03 <= dropped / len(RULE_EVENTS) <= 0.07
    kept = [outcome for outcome in outcomes if type(outcome) is dict]
    assert all(o["properties"]["pipeline"] == "kinesis-prod" for o in kept)
    assert not any("password" in o["properties"] or "userEmail" in o["properties"] for o in kept)
    emails = [o["properties"]["$email"] for o in kept if "$email" in o["properties"]]
    assert len(emails) >= 300
    assert all(len(email) == 64 for email in emails)
    assert any(o["event"] == "Sign Up" for o in kept)


def test_the_issue_12_invocations_count_what_arrives_and_what_the_sink_should_get() -> None:
    segment_shape, rules_shape = data.build_shapes(200, names=(data.SEGMENT, data.TRANSFORMED))
    assert (segment_shape.events, segment_shape.messages, segment_shape.plain) == (200, 200, False)
    assert rules_shape.events + rules_shape.filtered == rules_shape.messages == 200
    assert rules_shape.filtered_by == transformed.filtered(transformed.make_events_for_rules(200))
    assert dict(rules_shape.settings) == transformed.ENV


def test_the_per_byte_ratio_scales_the_cases_ratio_by_the_sizes_of_their_messages() -> None:
    headline, segment_shape = data.build_shapes(200, names=(data.HEADLINE, data.SEGMENT))
    head_bytes, track_bytes = headline.message_bytes(), segment_shape.message_bytes()
    assert head_bytes is not None
    assert track_bytes is not None
    assert head_bytes == sum(len(data.compact(e).encode()) for e in events.make_events(200)) / 200
    assert 1.7 <= track_bytes / head_bytes <= 2.3  # the size the report explains the Segment ratio by
    kinesis = data.build_shapes(10, names=("kinesis_plain",))[0]
    assert kinesis.message_bytes() is None
    head = {"message_bytes": 500.0}
    assert tables.per_byte_ratio({"ratio_to_headline": 1.8, "message_bytes": 1000.0}, head) == 0.9
    assert tables.per_byte_ratio({"ratio_to_headline": 1.8}, head) is None  # results saved before sizes were


def test_the_segment_tracks_events_in_mixpanels_shape_are_what_the_forwarder_sends_for_them() -> None:
    (shape,) = data.build_shapes(200, names=(data.SEGMENT_EVENTS,))
    assert shape.plain  # naive and floor forward it too
    bodies = [json.loads(record["body"]) for record in shape.event()["Records"]]
    assert [b["event"] for b in bodies] == [t["event"] for t in TRACKS[:200]]
    for body, track in zip(bodies, TRACKS[:200], strict=True):
        assert set(body) == {"event", "properties"}
        properties = body["properties"]
        assert properties["distinct_id"] == (track.get("userId") or track["anonymousId"])
        assert properties["$device_id"] == track["anonymousId"]
        assert type(properties["time"]) is int
        assert len(properties["$insert_id"]) <= 36
        assert properties["mp_lib"] == track["context"]["library"]["name"]
        assert track["properties"].items() <= properties.items()
    assert data.IN_MIXPANEL_SHAPE == {data.SEGMENT: data.SEGMENT_EVENTS}


def test_the_user_agent_case_is_the_same_tracks_each_with_its_users_user_agent() -> None:
    with_agents = segment.make_tracks(2000, user_agents=True)
    assert all(type(t["context"]["userAgent"]) is str for t in with_agents)
    for plain, agent in zip(TRACKS, with_agents, strict=True):
        if "userAgent" in plain["context"]:
            assert plain == agent
        else:
            assert {**plain["context"], "userAgent": agent["context"]["userAgent"]} == agent["context"]
    assert 100 <= segment.distinct_agents(with_agents) <= 1000  # users repeat: the cache serves most messages
    (shape,) = data.build_shapes(200, names=(data.SEGMENT_AGENTS,))
    assert (shape.events, shape.messages, shape.plain) == (200, 200, False)
    assert data.SEGMENT_AGENTS in data.AGAINST_HEADLINE
