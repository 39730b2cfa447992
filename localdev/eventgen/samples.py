"""The sample invocation events in `events/`, each built from the factories with its own range of event indices
(so no two files share a message id or an $insert_id), and the README that says what each one shows."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import FIFO_QUEUE_ARN, T0_MS, T0_S, compact, gzip_stable
from .mixpanel import sample_event
from .payloads import cloudwatch_logs_data, eventbridge_envelope, kpl_aggregate, sns_envelope
from .records import kinesis_event, kinesis_record, sqs_event, sqs_record
from .vendors import VENDOR_SAMPLES

_EPOCH_1960_S = -315_619_200  # 1960-01-01T00:00:00Z: Mixpanel refuses times before 1971


def _body(i: int, **overrides: Any) -> str:
    return compact(sample_event(i, **overrides))


def _sent_ms(i: int) -> int:
    return T0_MS + i * 1000 + 120


def _sqs_standard() -> dict[str, Any]:
    return sqs_event([sqs_record(_body(i), index=i, sent_timestamp_ms=_sent_ms(i)) for i in range(5)])


def _sqs_batch_array() -> dict[str, Any]:
    return sqs_event(
        [
            sqs_record(
                compact([sample_event(i) for i in range(first, first + 3)]),
                index=first,
                sent_timestamp_ms=_sent_ms(first + 2),
            )
            for first in (100, 103)
        ]
    )


def _sqs_ndjson() -> dict[str, Any]:
    body = "".join(_body(i) + "\n" for i in range(200, 204))
    return sqs_event([sqs_record(body, index=200, sent_timestamp_ms=_sent_ms(203))])


def _sqs_fifo() -> dict[str, Any]:
    groups = ("user-41", "user-42", "user-41", "user-42")
    return sqs_event(
        [
            sqs_record(
                _body(i, distinct_id=group),
                index=i,
                queue_arn=FIFO_QUEUE_ARN,
                group_id=group,
                sent_timestamp_ms=_sent_ms(i),
            )
            for i, group in zip(range(300, 304), groups, strict=True)
        ]
    )


def _sqs_sns() -> dict[str, Any]:
    return sqs_event(
        [sqs_record(sns_envelope(_body(i), index=i), index=i, sent_timestamp_ms=_sent_ms(i)) for i in range(400, 403)]
    )


def _sqs_eventbridge() -> dict[str, Any]:
    return sqs_event(
        [
            sqs_record(eventbridge_envelope(sample_event(i), index=i), index=i, sent_timestamp_ms=_sent_ms(i))
            for i in range(500, 503)
        ]
    )


def _sqs_poison() -> dict[str, Any]:
    nameless = sample_event(603)
    del nameless["event"]
    bodies = [
        _body(600),
        _body(601),
        "purchase completed for user-17, amount=42.00 (not JSON)",
        compact(nameless),
        _body(604, time_s=_EPOCH_1960_S - 604),
        _body(605, distinct_id="undefined"),
    ]
    return sqs_event(
        [sqs_record(body, index=i, sent_timestamp_ms=_sent_ms(i)) for i, body in enumerate(bodies, start=600)]
    )


def _user(i: int, operation: str, value: Any) -> dict[str, Any]:
    return {"$distinct_id": f"user-{i}", operation: value}


def _group(company: int, operation: str, value: Any) -> dict[str, Any]:
    return {"$group_key": "company_id", "$group_id": str(company), operation: value}


def _sqs_profiles() -> dict[str, Any]:
    bodies = [
        _body(1200),
        compact(_user(1201, "$set", {"$email": "user-1201@example.com", "plan": "pro", "seats": 3})),
        compact([sample_event(1202), _user(1201, "$union", {"tags": ["beta"]}), _group(42, "$set", {"name": "Acme"})]),
        compact(_user(1203, "$set_once", {"first_seen": "2025-11-24"})),
        compact(_group(42, "$union", {"regions": ["eu-west-1"]})),
        compact({"$distinct_id": "user-1205", "$set": {"plan": "pro"}, "$unset": ["trial"]}),  # two operations
    ]
    return sqs_event(
        [sqs_record(body, index=i, sent_timestamp_ms=_sent_ms(i)) for i, body in enumerate(bodies, start=1200)]
    )


def _kinesis_profiles() -> dict[str, Any]:
    messages = [sample_event(1300), _user(1300, "$set", {"plan": "team"}), _group(7, "$set_once", {"founded": 2019})]
    return kinesis_event(
        [
            kinesis_record(
                kpl_aggregate([compact(message).encode() for message in messages]),
                index=1300,
                arrival_s=_arrival_s(1300),
            )
        ]
    )


def _arrival_s(i: int) -> float:
    return T0_S + i + 0.25


def _kinesis_plain() -> dict[str, Any]:
    return kinesis_event([kinesis_record(_body(i).encode(), index=i, arrival_s=_arrival_s(i)) for i in range(700, 704)])


def _kinesis_gzip() -> dict[str, Any]:
    return kinesis_event(
        [
            kinesis_record(
                gzip_stable(compact([sample_event(i) for i in range(first, first + 5)]).encode()),
                index=first,
                arrival_s=_arrival_s(first + 4),
            )
            for first in (800, 805)
        ]
    )


def _kinesis_kpl() -> dict[str, Any]:
    user_records = [_body(i).encode() for i in range(900, 905)]
    keys = [f"user-{i % 97}" for i in range(900, 905)]
    return kinesis_event(
        [
            # The KPL puts an aggregate on the stream under its first user record's partition key.
            kinesis_record(
                kpl_aggregate(user_records, partition_keys=keys),
                index=900,
                partition_key=keys[0],
                arrival_s=_arrival_s(904),
            ),
            kinesis_record(_body(905).encode(), index=905, arrival_s=_arrival_s(905)),
        ]
    )


def _kinesis_cloudwatch_logs() -> dict[str, Any]:
    data = cloudwatch_logs_data([_body(i) for i in range(1000, 1003)], first_id=1000, timestamp_ms=_sent_ms(1000))
    probe = cloudwatch_logs_data([], control=True, timestamp_ms=_sent_ms(1003))
    return kinesis_event(
        [
            kinesis_record(data, index=1000, arrival_s=_arrival_s(1002)),
            kinesis_record(probe, index=1003, arrival_s=_arrival_s(1003)),
        ]
    )


def _kinesis_poison() -> dict[str, Any]:
    garbage = random.Random(1104).randbytes(64)  # seeded: starts with neither the KPL nor the gzip magic
    null_insert_id = sample_event(1103)
    null_insert_id["properties"]["$insert_id"] = "null"
    data = [_body(1100).encode(), _body(1101).encode(), garbage, compact(null_insert_id).encode()]
    return kinesis_event([kinesis_record(d, index=i, arrival_s=_arrival_s(i)) for i, d in enumerate(data, start=1100)])


_SAMPLES: tuple[tuple[str, str, Callable[[], dict[str, Any]]], ...] = (
    ("sqs-standard.json", "SQS standard queue, 5 records, each body one event object.", _sqs_standard),
    ("sqs-batch-array.json", "SQS, 2 records, each body a JSON array of 3 events (6 events).", _sqs_batch_array),
    ("sqs-ndjson.json", "SQS, 1 record whose body is 4 NDJSON lines (4 events).", _sqs_ndjson),
    (
        "sqs-fifo.json",
        "SQS FIFO queue (`.fifo` ARN), 4 records in 2 message groups (`MessageGroupId` user-41, user-42).",
        _sqs_fifo,
    ),
    (
        "sqs-sns.json",
        "SQS subscribed to an SNS topic without raw delivery: 3 notifications, the event in `Message`.",
        _sqs_sns,
    ),
    (
        "sqs-eventbridge.json",
        "SQS as an EventBridge rule target: 3 EventBridge events, the event object in `detail`.",
        _sqs_eventbridge,
    ),
    (
        "sqs-poison.json",
        "SQS, 6 records: 2 valid events, then one of each defect that cannot be imported: a body that is not JSON, "
        "an event without a name, a time in 1960, distinct_id `undefined`. Only the 2 valid ones can be imported.",
        _sqs_poison,
    ),
    (
        "sqs-profiles.json",
        "SQS, 6 records mixing events, user profile updates (`$set`, `$union`, `$set_once`) and group updates "
        "(`$set`, `$union` on company 42), one body a JSON array of all three kinds; the last update has two "
        "operations, which Mixpanel refuses: it is reported (parked, with a dead-letter queue).",
        _sqs_profiles,
    ),
    ("kinesis-plain.json", "Kinesis, 4 records, each one JSON event.", _kinesis_plain),
    ("kinesis-gzip.json", "Kinesis, 2 records, each a gzip-compressed JSON array of 5 events.", _kinesis_gzip),
    (
        "kinesis-kpl.json",
        "Kinesis, 2 records: a KPL aggregate of 5 events (one sequence number for all 5), and a plain event.",
        _kinesis_kpl,
    ),
    (
        "kinesis-cloudwatch-logs.json",
        "Kinesis fed by a CloudWatch Logs subscription: a DATA_MESSAGE with 3 log events whose messages are JSON "
        "events, and a CONTROL_MESSAGE health probe (nothing to import, not a failure).",
        _kinesis_cloudwatch_logs,
    ),
    (
        "kinesis-profiles.json",
        "Kinesis, 1 KPL aggregate of an event, a user `$set` and a group `$set_once`: each goes to its endpoint.",
        _kinesis_profiles,
    ),
    (
        "kinesis-poison.json",
        "Kinesis, 4 records: 2 valid events, 1 record of binary garbage, 1 event whose `$insert_id` is `null`. "
        "Only the 2 valid ones can be imported.",
        _kinesis_poison,
    ),
    *VENDOR_SAMPLES,
)


def write_samples(folder: Path) -> list[Path]:
    """Write every sample invocation event into `folder` as pretty-printed JSON; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, _, build in _SAMPLES:
        path = folder / name
        path.write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8", newline="\n")
        paths.append(path)
    return paths


def samples_readme() -> str:
    """The text of `events/README.md`: what each sample file shows."""
    rows = "".join(f"| `{name}` | {description} |\n" for name, description, _ in _SAMPLES)
    return (
        "# Sample Lambda invocation events\n"
        "\n"
        "Complete invocation events, as Lambda hands them to the SQS and Kinesis forwarders: use them with\n"
        "`sam local invoke <function> -e events/<file>`, in tests, or in the demo. Event times are fixed on\n"
        "2025-11-24 around 16:00 UTC, which Mixpanel's `/import` keeps accepting.\n"
        "\n"
        "Generated by `python -m localdev.eventgen` from `localdev/eventgen/`: do not edit them by hand.\n"
        "Change the generator and regenerate; `tests/unit/test_eventgen.py` fails when these files drift from it.\n"
        "\n"
        "| File | What it shows |\n"
        "|---|---|\n" + rows
    )
