"""The Lambda entry: one Forwarder per container, built from the environment on first use, and the
handler each function exposes (structured logs with the Lambda context, metrics, optional tracing)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

from . import emf, log
from . import metrics as invocation_metrics
from .deadline import LambdaContext
from .forwarder import Forwarder
from .log import logger
from .result import Result
from .setting_names import misspelt_settings
from .settings import TRACING_ENABLED, Settings
from .sources import Source

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_forwarder: Forwarder | None = None
_last_result: Result | None = None


def forwarder() -> Forwarder:
    global _forwarder
    if _forwarder is None:
        # Before the settings are read: a misspelt required one fails them, and this says why it is "not set".
        for name, setting in misspelt_settings(os.environ):
            logger.warning(
                "variable unused: no setting of the forwarder is named so, but one is close",
                extra={"variable": name, "did_you_mean": setting},
            )
        _forwarder = Forwarder(Settings.from_env())
    return _forwarder


def reset() -> None:
    """Forget the container's forwarder, so the next invocation reads the environment again."""
    global _forwarder, _last_result
    _forwarder = None
    _last_result = None


def handle(source: Source, event: Any, context: LambdaContext | None) -> dict[str, Any]:
    global _last_result
    try:
        result = forwarder().forward(source, event, context)
    except Exception:
        # Nothing acknowledged: Lambda retries the whole batch. Counted, since alarms watch for it.
        invocation_metrics.invocation_failed(source.NAME)
        raise
    _last_result = result
    invocation_metrics.publish(result)
    logger.info("invocation summary", extra=result.summary())
    return result.response


def last_result() -> Result | None:
    """The last invocation's full result in this process: for the local runner and tests, not for Lambda."""
    return _last_result


def lambda_handler_for(source: Source) -> Handler:
    """The function's handler: `lambda_handler = runtime.lambda_handler_for(sqs)` is all an app.py holds."""

    # POWERTOOLS_METRICS_DISABLED (local runs) silences every metric, the cold-start one included.
    cold_start_metric = not emf.metrics_disabled()

    @log.inject_lambda_context
    @invocation_metrics.metrics.log_metrics(capture_cold_start_metric=cold_start_metric)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handle(source, event, context)

    if os.environ.get(TRACING_ENABLED, "").lower() == "true":
        # X-Ray through Powertools Tracer, only when asked for: aws-xray-sdk costs cold start otherwise.
        from aws_lambda_powertools import Tracer

        return cast(Handler, Tracer().capture_lambda_handler(lambda_handler))
    return cast(Handler, lambda_handler)
