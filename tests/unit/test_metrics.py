"""The invocation's metrics as publish leaves them to be written: every name, unit and value, and the same EMF
documents as Powertools Metrics writes for them (emf.py writes them without importing Powertools)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mixpanel_forwarder import metrics as invocation_metrics
from mixpanel_forwarder.delivery_stats import DeliveryStats
from mixpanel_forwarder.ledger import FailedEvent, Ledger
from mixpanel_forwarder.model import Failure, Kind, SourceKind, Stage
from mixpanel_forwarder.redelivery import RedeliveryStats
from mixpanel_forwarder.result import Result

metrics = invocation_metrics.metrics


@pytest.fixture(autouse=True)
def no_metrics_left() -> Iterator[None]:
    yield
    metrics.clear_metrics()


def result(latencies: int = 2, source: SourceKind = SourceKind.SQS) -> Result:
    """An invocation where every count differs, so that a value under the wrong name shows."""
    ledger = Ledger(6)
    for record in range(5):
        ledger.imported([ledger.enqueue(record) for _ in range(record + 1)])  # 15 events
    ledger.fail_record(5, Failure("not JSON", "record", Stage.DECODE))
    ledger.fail(0, FailedEvent(Failure("bad", "event", Stage.INVALID)))
    ledger.fail(1, FailedEvent(Failure("refused", "properties.time", Stage.REFUSED)))
    ledger.fail(2, FailedEvent(Failure("refused", "properties.time", Stage.REFUSED)))
    ledger.fail(3, FailedEvent(Failure("503")))
    ledger.fail_record(6, Failure("crash loop", "record", Stage.CRASH_LOOP))  # whole SQS records
    ledger.fail_whole({7: Failure("outlasted retention", "record", Stage.RETENTION)})
    ledger.fail_whole({8: Failure("outlasted retention", "record", Stage.RETENTION)})
    ledger.parked([5, 6, 7, 8], [0, 1])
    updates = [ledger.enqueue(4) for _ in range(9)]  # profile updates: not counted as events
    for index in updates[:5]:
        ledger.classify(index, Kind.USER)
    for index in updates[5:]:
        ledger.classify(index, Kind.GROUP)
    ledger.imported(updates[:3] + updates[5:])  # users: 3 imported, 2 left for retry; groups: 4 imported
    for kind, filtered in ((Kind.EVENT, 13), (Kind.USER, 12), (Kind.GROUP, 10)):  # filtered out by TRANSFORMS
        for _ in range(filtered):
            index = ledger.enqueue(4)
            ledger.classify(index, kind)
            ledger.filter(index, "drop_events" if kind is Kind.EVENT else "drop_properties")
    ledger.settle()
    delivery = DeliveryStats()
    delivery.resent_not_idempotent = 9
    delivery.requests.update({"2xx": 7, "400": 2, "429": 3, "5xx": 4, "timeout": 5, "connection": 6})
    delivery.retries, delivery.bytes_raw, delivery.bytes_gzip = 8, 12_345, 2_345
    delivery.latencies_ms.extend(10.0 + n + 0.04 for n in range(latencies))
    delivery.unavailable_since, delivery.probes, delivery.probes_failed = 1_764_000_000.0, 1, 1
    delivery.in_flight_limit_min, delivery.in_flight_limit, delivery.requests_delayed = 14, 15, 16
    failures = [{"itemIdentifier": f"m{r}"} for r in (0, 1, 2)]
    redelivery = RedeliveryStats()
    redelivery.backed_off, redelivery.backoff_failures, redelivery.moved_crash_loop = 14, 15, 16
    name = "kinesis" if source is SourceKind.KINESIS else "sqs"
    return Result(name, source, 6, ledger, delivery, failures, redelivery)


def document() -> dict[str, Any]:
    emf: dict[str, Any] = dict(metrics.serialize_metric_set())
    del emf["_aws"]["Timestamp"]  # the time it was written
    return emf


def test_every_metric_has_its_name_unit_and_value() -> None:
    invocation_metrics.publish(result())

    emf = document()
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == invocation_metrics.NAMESPACE
    assert directive["Dimensions"] == [["Source", "service"]]
    assert (emf["Source"], emf["service"]) == ("sqs", invocation_metrics.SERVICE)
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    values = {name: emf[name] for name in units}
    assert values == {
        "RecordsReceived": [6.0],
        "RecordsReported": [3.0],
        "EventsDecoded": [28.0],
        "EventsImported": [11.0],
        "EventsParked": [2.0],
        "EventsReportedForRetry": [2.0],
        "EventsFiltered": [13.0],
        "ParkingFailures": [1.0],
        "Retries": [8.0],
        "ProfileUpdatesResentNotIdempotent": [9.0],
        "UserUpdatesImported": [3.0],
        "UserUpdatesParked": [0.0],
        "UserUpdatesReportedForRetry": [2.0],
        "UserUpdatesFiltered": [12.0],
        "GroupUpdatesImported": [4.0],
        "GroupUpdatesParked": [0.0],
        "GroupUpdatesReportedForRetry": [0.0],
        "GroupUpdatesFiltered": [10.0],
        "ProfileUpdatesReportedForRetry": [2.0],
        "ParkedUndecodable": [1.0],
        "ParkedInvalid": [1.0],
        "ParkedRefusedByMixpanel": [1.0],
        "RecordsParkedCrashLoop": [1.0],
        "RecordsParkedRetention": [2.0],
        "RecordsBackedOff": [14.0],
        "BackoffFailures": [15.0],
        "RecordsMovedCrashLoop": [16.0],
        "Requests2xx": [7.0],
        "Requests2xxUnconfirmed": [0.0],
        "Requests2xxRefused": [0.0],
        "Requests400": [2.0],
        "Requests401": [0.0],
        "Requests403": [0.0],
        "Requests413": [0.0],
        "Requests429": [3.0],
        "Requests4xx": [0.0],
        "Requests5xx": [4.0],
        "Requeststimeout": [5.0],
        "Requestsconnection": [6.0],
        "MixpanelUnavailable": [1.0],
        "Probes": [1.0],
        "ProbesFailed": [1.0],
        "InFlightLimit": [14.0],
        "InFlightLimitAtEnd": [15.0],
        "RequestsDelayedByLimit": [16.0],
        "BytesUncompressed": [12_345.0],
        "BytesCompressed": [2_345.0],
        "MixpanelLatency": [10.0, 11.0],
    }
    assert units == {name: "Count" for name in values} | {
        "BytesUncompressed": "Bytes",
        "BytesCompressed": "Bytes",
        "MixpanelLatency": "Milliseconds",
    }


def test_kinesis_writes_none_of_the_sqs_functions_own_metrics() -> None:
    invocation_metrics.publish(result(source=SourceKind.KINESIS))

    [directive] = document()["_aws"]["CloudWatchMetrics"]
    names = {metric["Name"] for metric in directive["Metrics"]}
    assert "RecordsReceived" in names
    assert names.isdisjoint(
        {
            "RecordsBackedOff",
            "BackoffFailures",
            "RecordsMovedCrashLoop",
            "RecordsParkedCrashLoop",
            "RecordsParkedRetention",
        }
    )


def test_the_document_is_the_one_powertools_metrics_writes_for_the_same_metrics() -> None:
    from aws_lambda_powertools import Metrics

    invocation_metrics.publish(result())
    published = document()
    [directive] = published["_aws"]["CloudWatchMetrics"]

    powertools = Metrics(namespace=invocation_metrics.NAMESPACE, service=invocation_metrics.SERVICE)
    powertools.add_dimension(invocation_metrics.SOURCE_DIMENSION, "sqs")
    for metric in directive["Metrics"]:
        for value in published[metric["Name"]]:
            powertools.add_metric(name=metric["Name"], unit=metric["Unit"], value=value)
    expected = powertools.serialize_metric_set()
    powertools.clear_metrics()
    del expected["_aws"]["Timestamp"]

    assert json.dumps(published) == json.dumps(expected)  # the same keys in the same order


def test_over_100_latencies_are_written_as_powertools_writes_them(capsys: pytest.CaptureFixture[str]) -> None:
    invocation_metrics.publish(result(latencies=150))

    [early] = capsys.readouterr().out.splitlines()  # Powertools writes a document early at 100 values of one metric
    assert json.loads(early)["RecordsReceived"] == [6.0]
    assert len(json.loads(early)["MixpanelLatency"]) == 100
    assert list(metrics.metric_set) == ["MixpanelLatency"]
    assert len(metrics.metric_set["MixpanelLatency"]["Value"]) == 50
