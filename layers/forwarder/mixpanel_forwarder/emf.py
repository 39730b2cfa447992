"""CloudWatch Embedded Metric Format: the documents Powertools Metrics writes, without importing Powertools.

Importing aws_lambda_powertools runs its package's __init__, which loads Logger, Metrics, jmespath and
typing_extensions: ~10 ms of every cold start, a sixth of `import json, gzip, urllib3`, for the few calls
metrics.py makes. This writes the same JSON lines (tests/unit/test_emf.py holds each one to Powertools'
own output for the same calls) and reads the same variables: POWERTOOLS_METRICS_NAMESPACE,
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_DISABLED and POWERTOOLS_DEV.
Format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

from .log import first_invocation_is_cold

COUNT = "Count"
BYTES = "Bytes"
MILLISECONDS = "Milliseconds"
STANDARD_RESOLUTION = 60
# EMF takes at most 100 metrics in a document and 100 values of one metric: at either, the set is written early.
MAX_METRICS = 100
COLD_START = "ColdStart"

_TRUE = ("1", "true", "yes", "on", "y", "t")


def metrics_disabled() -> bool:
    """Powertools' rule: POWERTOOLS_METRICS_DISABLED true, or POWERTOOLS_DEV true with the former unset."""
    disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    if disabled is not None:
        return disabled.strip().lower() in _TRUE
    return os.environ.get("POWERTOOLS_DEV", "").strip().lower() in _TRUE


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


class Metrics:
    """One metric set and its dimensions, written as one EMF document per flush; `service` is always a dimension."""

    def __init__(self, namespace: str, service: str) -> None:
        self.namespace = namespace
        self.service = service
        self.metric_set: dict[str, dict[str, Any]] = {}
        self.dimension_set: dict[str, str] = {}
        self._cold_start = first_invocation_is_cold()

    def clear_metrics(self) -> None:
        self.metric_set.clear()
        self.dimension_set.clear()

    def add_dimension(self, name: str, value: str) -> None:
        self.dimension_set[name] = value

    def add_metric(self, name: str, unit: str, value: float) -> None:
        metric = self.metric_set.setdefault(name, {"Unit": unit, "StorageResolution": STANDARD_RESOLUTION, "Value": []})
        metric["Value"].append(float(value))
        if len(self.metric_set) == MAX_METRICS or len(metric["Value"]) == MAX_METRICS:
            # Powertools writes this one even where metrics are off; silenced (the local tools) means none at all.
            if not metrics_disabled():
                print(_dumps(self.serialize_metric_set()))
            self.metric_set.clear()

    def serialize_metric_set(self) -> dict[str, Any]:
        """The EMF document for what is in the set now: the dimensions first, then the values, as Powertools orders
        them (metric definitions carry no StorageResolution at the standard 60 s)."""
        if not self.metric_set:
            raise ValueError("an EMF document must hold at least one metric")
        self.dimension_set.setdefault("service", self.service)
        return {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(self.dimension_set)],
                        "Metrics": [{"Name": name, "Unit": metric["Unit"]} for name, metric in self.metric_set.items()],
                    }
                ],
            },
            **self.dimension_set,
            **{name: metric["Value"] for name, metric in self.metric_set.items()},
        }

    def flush_metrics(self) -> None:
        if self.metric_set and not metrics_disabled():
            print(_dumps(self.serialize_metric_set()))
            self.clear_metrics()

    def add_cold_start_metric(self, context: Any) -> None:
        """A document of its own: ColdStart 1 by function_name and service, as Powertools writes it."""
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["function_name", "service"]],
                        "Metrics": [{"Name": COLD_START, "Unit": COUNT}],
                    }
                ],
            },
            "function_name": os.environ.get("POWERTOOLS_METRICS_FUNCTION_NAME") or context.function_name,
            "service": self.service,
            COLD_START: [1.0],
        }
        print(_dumps(document))

    def log_metrics(
        self, *, capture_cold_start_metric: bool = False
    ) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
        """A handler decorator: the set is written when the handler returns or raises; the cold-start document
        after the first invocation that returned, as Powertools' log_metrics does."""

        def decorator(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
            @functools.wraps(handler)
            def decorated(event: Any, context: Any) -> Any:
                try:
                    response = handler(event, context)
                    if capture_cold_start_metric and self._cold_start:
                        self._cold_start = False
                        self.add_cold_start_metric(context)
                finally:
                    self.flush_metrics()
                return response

            return decorated

        return decorator
