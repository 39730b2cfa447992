"""What each invocation did, as CloudWatch metrics (EMF, written as Powertools Metrics writes it: emf.py).

Partial batch failures are invisible to Lambda's own Errors metric, so every outcome is counted here,
with the source (`sqs` or `kinesis`) as a dimension beside Powertools' `service`. The names are the
contract the template's alarms and dashboard are built on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from . import emf
from .model import Stage

if TYPE_CHECKING:
    from .result import Result

NAMESPACE = "MixpanelForwarder"
SERVICE = "mixpanel-forwarder"  # the `service` dimension, as the logger names it
SOURCE_DIMENSION = "Source"

RECORDS_RECEIVED = "RecordsReceived"
RECORDS_REPORTED = "RecordsReported"  # named in batchItemFailures: Lambda delivers them again
EVENTS_DECODED = "EventsDecoded"
EVENTS_IMPORTED = "EventsImported"
EVENTS_PARKED = "EventsParked"
EVENTS_REPORTED = "EventsReportedForRetry"
EVENTS_FILTERED = "EventsFiltered"  # filtered out (summary: filtered_by): never sent, parked or retried
# Parked, by why: not decodable (whole records, or items inside one), invalid before sending, refused by
# Mixpanel. EventsParked counts events; an undecodable record counts once in ParkedUndecodable.
PARKED_BY_STAGE = {
    Stage.DECODE: "ParkedUndecodable",
    Stage.INVALID: "ParkedInvalid",
    Stage.REFUSED: "ParkedRefusedByMixpanel",
}
PARK_FAILURES = "ParkingFailures"  # permanent failures the dead-letter queue did not take (reported instead)
REQUESTS_PREFIX = "Requests"  # Requests2xx, Requests400, Requests401, Requests403, Requests413, Requests429, ...
# Each request counts in one class. 2xxUnconfirmed: a 2xx that is not Mixpanel's answer for the events sent (a
# proxy's or a captive portal's page, another count), retried like a 5xx; 2xx counts only confirmed imports.
# 2xxRefused: /engage's or /groups' 200 whose body says status 0 (a refusal, split to find the refused update).
REQUEST_CLASSES = (
    "2xx",
    "2xxUnconfirmed",
    "2xxRefused",
    "400",
    "401",
    "403",
    "413",
    "429",
    "4xx",
    "5xx",
    "timeout",
    "connection",
)
# Profile updates by kind and outcome: UserUpdatesImported, UserUpdatesParked, UserUpdatesReportedForRetry, Group…
PROFILE_UPDATES = {"user": "UserUpdates", "group": "GroupUpdates"}
PROFILE_OUTCOMES = {"imported": "Imported", "parked": "Parked", "retry": "ReportedForRetry", "filtered": "Filtered"}
# Both kinds together, what the profile retries alarm watches.
PROFILE_UPDATES_REPORTED = "ProfileUpdatesReportedForRetry"
# $add and $append updates sent again after an answer that may have applied them: they may have counted twice.
RESENT_NOT_IDEMPOTENT = "ProfileUpdatesResentNotIdempotent"
RETRIES = "Retries"
MIXPANEL_LATENCY = "MixpanelLatency"
BYTES_UNCOMPRESSED = "BytesUncompressed"
BYTES_COMPRESSED = "BytesCompressed"
# Mixpanel's availability (availability.py): invocations that found it down (their first batch probed, the others
# waited for it), probes sent, and probes that met a transient failure (nothing else was sent then).
MIXPANEL_UNAVAILABLE = "MixpanelUnavailable"
PROBES = "Probes"
PROBES_FAILED = "ProbesFailed"
# /import requests in flight per container (in_flight.py): the lowest limit during the invocation and the limit at its
# end (MAX_CONCURRENT_REQUESTS unless 429s lowered it), and requests that waited for a place.
IN_FLIGHT_LIMIT = "InFlightLimit"
IN_FLIGHT_LIMIT_AT_END = "InFlightLimitAtEnd"
REQUESTS_DELAYED = "RequestsDelayedByLimit"
# The SQS function's only (redelivery.py): reported records hidden for their delay, those SQS was not told about (they
# come back after the queue's visibility timeout), crash-looping records moved to the source dead-letter queue, and
# whole records parked: crash-looping with no source dead-letter queue to go to (FIFO, an existing queue), or failing
# until their queue would have deleted them.
RECORDS_BACKED_OFF = "RecordsBackedOff"
BACKOFF_FAILURES = "BackoffFailures"
RECORDS_MOVED_CRASH_LOOP = "RecordsMovedCrashLoop"
RECORDS_PARKED_CRASH_LOOP = "RecordsParkedCrashLoop"
RECORDS_PARKED_RETENTION = "RecordsParkedRetention"
SQS_SOURCE = "sqs"  # sources/sqs.py's NAME
INVOCATION_ERRORS = "InvocationErrors"  # the handler raised: nothing was acknowledged (bad config, no credentials)

metrics = emf.Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE,
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE,
)


def _metric(unit: str, value: int) -> dict[str, Any]:
    """One metric with one value, as add_metric keeps it in the metric set."""
    return {"Unit": unit, "StorageResolution": emf.STANDARD_RESOLUTION, "Value": [float(value)]}


def publish(result: Result) -> None:
    """Adds the invocation's metrics; the handler's log_metrics writes them when it returns."""
    metrics.clear_metrics()  # nothing is left from an earlier invocation, even where metrics are off (locally)
    metrics.add_dimension(SOURCE_DIMENSION, result.source)
    counts = result.counts()
    delivery = result.delivery
    values = {
        RECORDS_RECEIVED: result.records,
        RECORDS_REPORTED: len(result.batch_item_failures),
        EVENTS_DECODED: counts["events"],
        EVENTS_IMPORTED: counts["imported"],
        EVENTS_PARKED: counts["parked"],
        EVENTS_REPORTED: counts["retry"],
        EVENTS_FILTERED: counts["filtered"],
        PARK_FAILURES: counts["park_failures"],
        RETRIES: delivery.retries,
        RESENT_NOT_IDEMPOTENT: delivery.resent_not_idempotent,
        MIXPANEL_UNAVAILABLE: int(delivery.unavailable_since is not None),
        PROBES: delivery.probes,
        PROBES_FAILED: delivery.probes_failed,
        IN_FLIGHT_LIMIT: delivery.in_flight_limit_min,
        IN_FLIGHT_LIMIT_AT_END: delivery.in_flight_limit,
        REQUESTS_DELAYED: delivery.requests_delayed,
    }
    if result.source == SQS_SOURCE:
        redelivery = result.redelivery
        values[RECORDS_BACKED_OFF] = redelivery.backed_off
        values[BACKOFF_FAILURES] = redelivery.backoff_failures
        values[RECORDS_MOVED_CRASH_LOOP] = redelivery.moved_crash_loop
        values[RECORDS_PARKED_CRASH_LOOP] = counts["parked_" + Stage.CRASH_LOOP]
        values[RECORDS_PARKED_RETENTION] = counts["parked_" + Stage.RETENTION]
    for kind, prefix in PROFILE_UPDATES.items():
        for outcome, suffix in PROFILE_OUTCOMES.items():
            values[prefix + suffix] = counts[f"{kind}_updates_{outcome}"]
    values[PROFILE_UPDATES_REPORTED] = counts["user_updates_retry"] + counts["group_updates_retry"]
    for stage, name in PARKED_BY_STAGE.items():
        values[name] = counts["parked_" + stage]
    for status_class in REQUEST_CLASSES:
        values[REQUESTS_PREFIX + status_class] = delivery.requests.get(status_class, 0)
    # One value each, far below the 100 metrics at which add_metric writes a document early: straight into the set.
    metric_set = metrics.metric_set
    for name, value in values.items():
        metric_set[name] = _metric(emf.COUNT, value)
    metric_set[BYTES_UNCOMPRESSED] = _metric(emf.BYTES, delivery.bytes_raw)
    metric_set[BYTES_COMPRESSED] = _metric(emf.BYTES, delivery.bytes_gzip)
    # A value per request, through add_metric: past 100 values of one metric, it writes a document early.
    for latency in delivery.latencies_ms:
        metrics.add_metric(name=MIXPANEL_LATENCY, unit=emf.MILLISECONDS, value=round(latency, 1))


def invocation_failed(source_name: str) -> None:
    metrics.clear_metrics()
    metrics.add_dimension(SOURCE_DIMENSION, source_name)
    metrics.add_metric(name=INVOCATION_ERRORS, unit=emf.COUNT, value=1)
