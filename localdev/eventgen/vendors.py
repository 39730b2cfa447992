"""The sample files in `events/` of other tools' messages (VENDOR_SAMPLES, listed after the Mixpanel ones):
Segment calls on SQS, direct and from Segment's EventBridge partner event source, RudderStack's and Amplitude's
messages on Kinesis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .amplitude import amplitude_events
from .cdp import SEGMENT_EVENT_SOURCE, rudderstack_messages, segment_calls
from .common import T0_MS, T0_S, compact
from .payloads import eventbridge_envelope
from .records import kinesis_event, kinesis_record, sqs_event, sqs_record


def _sent_ms(i: int) -> int:
    return T0_MS + i * 1000 + 620


def _sqs_segment() -> dict[str, Any]:
    calls = segment_calls(1400)
    records = [sqs_record(compact(call), index=i, sent_timestamp_ms=_sent_ms(i)) for i, call in enumerate(calls, 1400)]
    return sqs_event(records)


def _sqs_segment_eventbridge() -> dict[str, Any]:
    records = []
    for i, call in enumerate(segment_calls(1450), start=1450):
        envelope = eventbridge_envelope(call, index=i, detail_type=call["type"], source=SEGMENT_EVENT_SOURCE)
        records.append(sqs_record(envelope, index=i, sent_timestamp_ms=_sent_ms(i)))
    return sqs_event(records)


def _kinesis_rudderstack() -> dict[str, Any]:
    messages = rudderstack_messages(1500)
    return kinesis_event(
        [
            kinesis_record(compact(m).encode(), index=i, partition_key=m["anonymousId"], arrival_s=T0_S + i + 0.7)
            for i, m in enumerate(messages, start=1500)
        ]
    )


def _kinesis_amplitude() -> dict[str, Any]:
    events = amplitude_events(1600)
    return kinesis_event(
        [
            kinesis_record(compact(e).encode(), index=i, partition_key=e["device_id"], arrival_s=T0_S + i + 0.8)
            for i, e in enumerate(events, start=1600)
        ]
    )


VENDOR_SAMPLES: tuple[tuple[str, str, Callable[[], dict[str, Any]]], ...] = (
    (
        "sqs-segment.json",
        "SQS, 6 Segment calls, one a body: page (anonymous), track, screen (iOS), identify (special traits), group "
        "and alias. Under MIXPANEL_ID_MERGE=simplified (the default) the alias is refused, with its reason.",
        _sqs_segment,
    ),
    (
        "sqs-segment-eventbridge.json",
        "SQS as the target of a rule on Segment's EventBridge partner event source (`aws.partner/segment.com/…`): "
        "6 calls like those of `sqs-segment.json` (ids of their own), each in `detail`, `detail-type` its type.",
        _sqs_segment_eventbridge,
    ),
    (
        "kinesis-rudderstack.json",
        "Kinesis from RudderStack's Kinesis destination, 4 records in the Segment spec with RudderStack's fields "
        "(`channel`, `request_ip`, `rudderId`): page, 2 tracks (server, Android) and identify (`context.traits`).",
        _kinesis_rudderstack,
    ),
    (
        "kinesis-amplitude.json",
        "Kinesis from Amplitude's export, 4 records of its export JSON: 3 events (one with a group, one placed by "
        "city without an IP, one whose `uuid` stands in for `$insert_id`) and a `$identify`.",
        _kinesis_amplitude,
    ),
)
