"""The EMF metrics each invocation writes: names, values and dimensions, for success, partial failure, outage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import lambda_context
from localdev.sink import MixpanelSink
from mixpanel_forwarder import metrics as names
from mixpanel_forwarder.errors import ConfigError
from tests.functional.conftest import load_event


def emitted(output: str) -> list[dict[str, Any]]:
    """The EMF documents in stdout, as {"dimensions": {...}, "metrics": {name: value or [values]}, "units"}."""
    documents = []
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        [directive] = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == names.NAMESPACE
        [dimension_names] = directive["Dimensions"]
        documents.append(
            {
                "dimensions": {name: blob[name] for name in dimension_names},
                "metrics": {metric["Name"]: _single(blob[metric["Name"]]) for metric in directive["Metrics"]},
                "units": {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]},
            }
        )
    return documents


def _single(value: Any) -> Any:
    """Powertools writes every value as a list; a lone value is read as itself."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def invocation_metrics(output: str) -> dict[str, Any]:
    [document] = [d for d in emitted(output) if names.RECORDS_RECEIVED in d["metrics"]]
    return document


def test_success_counts_every_event_imported(
    sink: MixpanelSink, forwarder_env: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs_handler(load_event("sqs-batch-array.json"), context)

    document = invocation_metrics(capsys.readouterr().out)
    assert document["dimensions"] == {"service": "mixpanel-forwarder", "Source": "sqs"}
    metrics = document["metrics"]
    assert metrics[names.RECORDS_RECEIVED] == 2
    assert metrics[names.EVENTS_DECODED] == 6
    assert metrics[names.EVENTS_IMPORTED] == 6
    assert metrics[names.EVENTS_PARKED] == 0
    assert metrics[names.EVENTS_REPORTED] == 0
    assert metrics[names.RECORDS_REPORTED] == 0
    assert metrics["Requests2xx"] == 1
    assert metrics["Requests5xx"] == 0
    assert metrics[names.RETRIES] == 0
    assert metrics[names.BYTES_UNCOMPRESSED] > metrics[names.BYTES_COMPRESSED] > 0
    assert metrics[names.MIXPANEL_LATENCY] >= 0
    assert document["units"][names.MIXPANEL_LATENCY] == "Milliseconds"
    assert document["units"][names.BYTES_COMPRESSED] == "Bytes"


def test_partial_failure_counts_parked_reported_and_refused(
    sink: MixpanelSink, forwarder_env: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sink.reject_next()  # Mixpanel refuses one of the two valid events in strict mode

    response = kinesis_handler(load_event("kinesis-poison.json"), context)

    metrics = invocation_metrics(capsys.readouterr().out)["metrics"]
    assert metrics[names.RECORDS_RECEIVED] == 4
    assert metrics[names.EVENTS_IMPORTED] == 1
    assert metrics[names.EVENTS_REPORTED] == 2  # no dead-letter queue: the refused and the invalid event
    assert metrics[names.RECORDS_REPORTED] == len(response["batchItemFailures"]) == 3
    assert metrics["Requests400"] == 1
    assert metrics[names.EVENTS_PARKED] == 0


def test_partial_failure_with_a_dead_letter_queue_counts_parked_by_stage(
    sink: MixpanelSink, forwarder_env: Any, context: Any, capsys: pytest.CaptureFixture[str], aws: str
) -> None:
    import boto3

    forwarder_env(DEAD_LETTER_QUEUE_URL=boto3.client("sqs").create_queue(QueueName="parked")["QueueUrl"])
    sink.reject_next()

    sqs_handler(load_event("sqs-poison.json"), context)

    metrics = invocation_metrics(capsys.readouterr().out)["metrics"]
    assert metrics["ParkedUndecodable"] == 1  # the record that is not JSON, parked whole
    assert metrics["ParkedInvalid"] == 3
    assert metrics["ParkedRefusedByMixpanel"] == 1
    assert metrics[names.EVENTS_PARKED] == 4  # events: the undecodable record holds none that could be read
    assert metrics[names.EVENTS_IMPORTED] == 1
    assert metrics[names.RECORDS_REPORTED] == 0
    assert metrics[names.PARK_FAILURES] == 0


def test_outage_counts_requests_retries_and_everything_reported(
    sink: MixpanelSink, forwarder_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    forwarder_env(DEADLINE_MARGIN_MS="1000", MAX_ATTEMPTS="3")
    sink.fail_next(503, count=100)

    sqs_handler(load_event("sqs-standard.json"), lambda_context(remaining_ms=10_000))

    metrics = invocation_metrics(capsys.readouterr().out)["metrics"]
    assert metrics["Requests5xx"] == 3
    assert metrics[names.RETRIES] == 2
    assert metrics[names.EVENTS_IMPORTED] == 0
    assert metrics[names.EVENTS_REPORTED] == 5
    assert metrics[names.RECORDS_REPORTED] == 5


def test_a_200_that_is_not_mixpanels_answer_is_counted_apart_from_confirmed_ones(
    sink: MixpanelSink, forwarder_env: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sink.unconfirmed_next()  # a captive portal's page, answered 200

    sqs_handler(load_event("sqs-standard.json"), context)

    metrics = invocation_metrics(capsys.readouterr().out)["metrics"]
    assert metrics["Requests2xxUnconfirmed"] == 1
    assert metrics["Requests2xx"] == 1  # only the confirmed one
    assert metrics[names.RETRIES] == 1
    assert metrics[names.EVENTS_IMPORTED] == 5


def test_a_request_cut_at_its_timeout_is_counted_as_one(
    sink: MixpanelSink, forwarder_env: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    forwarder_env(REQUEST_TIMEOUT_SECONDS="0.5")
    sink.drip_next(0.2)  # each byte in time for a read, the whole answer far too late

    sqs_handler(load_event("sqs-standard.json"), context)

    metrics = invocation_metrics(capsys.readouterr().out)["metrics"]
    assert metrics["Requeststimeout"] == 1
    assert metrics["Requestsconnection"] == 0
    assert metrics["Requests2xx"] == 1
    assert metrics[names.EVENTS_IMPORTED] == 5


def test_refused_credentials_are_counted_for_their_alarm(
    sink: MixpanelSink, forwarder_env: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    forwarder_env(MIXPANEL_SERVICE_ACCOUNT_SECRET="wrong")

    sqs_handler(load_event("sqs-standard.json"), context)

    assert invocation_metrics(capsys.readouterr().out)["metrics"]["Requests401"] == 1


def test_a_failed_invocation_is_counted(forwarder_env: Any, context: Any, capsys: pytest.CaptureFixture[str]) -> None:
    forwarder_env(MIXPANEL_PROJECT_ID=None)

    with pytest.raises(ConfigError):
        sqs_handler(load_event("sqs-standard.json"), context)

    [document] = [d for d in emitted(capsys.readouterr().out) if names.INVOCATION_ERRORS in d["metrics"]]
    assert document["metrics"][names.INVOCATION_ERRORS] == 1
    assert document["dimensions"]["Source"] == "sqs"


def test_every_metric_name_the_template_may_use_is_emitted(
    sink: MixpanelSink, forwarder_env: Any, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs_handler(load_event("sqs-standard.json"), context)

    metrics = invocation_metrics(capsys.readouterr().out)["metrics"]
    expected = {
        names.RECORDS_RECEIVED, names.RECORDS_REPORTED, names.EVENTS_DECODED, names.EVENTS_IMPORTED,
        names.EVENTS_PARKED, names.EVENTS_REPORTED, names.EVENTS_FILTERED, names.PARK_FAILURES, names.RETRIES,
        names.MIXPANEL_LATENCY,
        names.BYTES_UNCOMPRESSED, names.BYTES_COMPRESSED, *names.PARKED_BY_STAGE.values(),
        *(names.REQUESTS_PREFIX + status for status in names.REQUEST_CLASSES), names.RESENT_NOT_IDEMPOTENT,
        names.PROFILE_UPDATES_REPORTED,
        names.RECORDS_BACKED_OFF, names.BACKOFF_FAILURES, names.RECORDS_MOVED_CRASH_LOOP,
        names.RECORDS_PARKED_CRASH_LOOP, names.RECORDS_PARKED_RETENTION,
        *(kind + outcome for kind in names.PROFILE_UPDATES.values() for outcome in names.PROFILE_OUTCOMES.values()),
        names.MIXPANEL_UNAVAILABLE, names.PROBES, names.PROBES_FAILED, names.IN_FLIGHT_LIMIT,
        names.IN_FLIGHT_LIMIT_AT_END, names.REQUESTS_DELAYED,
    }  # fmt: skip
    assert set(metrics) == expected


def test_tracing_switch_wraps_the_handler_in_powertools_tracer(
    sink: MixpanelSink, forwarder_env: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mixpanel_forwarder import runtime
    from mixpanel_forwarder.sources import sqs

    plain = runtime.lambda_handler_for(sqs)
    monkeypatch.setenv("TRACING_ENABLED", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here; the wrapping is what is tested
    traced = runtime.lambda_handler_for(sqs)

    from aws_lambda_powertools import Tracer

    def tracers(handler: Any) -> list[Any]:
        cells = [cell.cell_contents for cell in handler.__closure__ or ()]
        return [content for content in cells if isinstance(content, Tracer)]

    assert tracers(plain) == []
    assert len(tracers(traced)) == 1
    assert traced(load_event("sqs-standard.json"), context) == {"batchItemFailures": []}
    assert len(sink.events) == 5
