"""The forwarder's structured JSON log lines: Powertools Logger's format, written by the standard library.

Importing aws_lambda_powertools costs ~10 ms of cold start (emf.py says why); the forwarder's logging
needs a formatter and a decorator. Each line keeps Powertools' keys in its order (level, location,
message, timestamp, service, the Lambda context's keys, the call's `extra`, exception, xray_trace_id),
so Logs Insights queries written for Powertools work unchanged; tests/unit/test_log.py holds the lines
to Powertools' own. The level follows Powertools' precedence: Lambda's advanced logging controls
(AWS_LAMBDA_LOG_LEVEL), then POWERTOOLS_LOG_LEVEL, then LOG_LEVEL, else INFO.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "mixpanel-forwarder"
# Lambda's advanced logging controls name their levels so (Powertools' LAMBDA_ADVANCED_LOGGING_LEVELS).
_LAMBDA_LEVELS = {
    "TRACE": "NOTSET",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "CRITICAL",
}
# What a LogRecord holds of its own: anything else on it came from `extra`, which may not replace these three keys.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "level",
    "location",
    "timestamp",
}


def level_from_env(env: Mapping[str, str]) -> tuple[str, str | None]:
    """The level to log at, and the variable that named no level (INFO is used then) if one did."""
    lambda_level = _LAMBDA_LEVELS.get(env.get("AWS_LAMBDA_LOG_LEVEL", "").upper())
    if lambda_level:
        return lambda_level, None
    for variable in ("POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"):
        if env.get(variable):
            level = env[variable].strip().upper()
            # Powertools raised on a typo here, failing every invocation; a log line naming the variable is enough.
            return (level, None) if isinstance(logging.getLevelName(level), int) else ("INFO", variable)
    return "INFO", None


def _trace_id() -> str | None:
    header = os.environ.get("_X_AMZN_TRACE_ID")
    return header.split(";")[0].replace("Root=", "") if header else None


class JsonFormatter(logging.Formatter):
    """A LogRecord as one JSON line; `context` holds the keys every line carries (the Lambda context's)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.context: dict[str, Any] = {}

    def format(self, record: logging.LogRecord) -> str:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": _message(record),
            "timestamp": f"{created},{int(record.msecs):03d}+0000",
            "service": self.service,
            **self.context,
            **{key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES},
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
            line["exception_name"] = record.exc_info[0].__name__
        line["xray_trace_id"] = _trace_id()
        try:
            return _dumps({key: value for key, value in line.items() if value is not None})
        except Exception:  # Powertools loses the whole line: only what JSON cannot hold is marked
            return _dumps({key: _as_json(value) for key, value in line.items() if value is not None})


def _dumps(line: Any) -> str:
    return json.dumps(line, default=str, separators=(",", ":"), ensure_ascii=False)


def _as_json(value: Any) -> Any:
    """`value`, or its type's name where JSON cannot hold it even through str() (a cycle, a tuple key, nesting past
    the recursion limit, a __str__ that raises)."""
    try:
        _dumps(value)
    except Exception:  # whatever the value's own methods raise
        return f"<not JSON: {type(value).__name__}>"
    return value


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # %-arguments that do not fit it: the message as written, not nothing
        return str(record.msg)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Powertools' handler (standard output as it was at import); a line holding a lone surrogate, which UTF-8
    cannot carry, is written with JSON escapes instead of being lost."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            try:
                self.stream.write(line + self.terminator)
            except UnicodeEncodeError:
                self.stream.write(json.dumps(json.loads(line), separators=(",", ":")) + self.terminator)
            self.flush()
        except Exception:  # logging's own rule: a log line never breaks the caller
            self.handleError(record)


formatter = JsonFormatter(SERVICE)
_handler = _StdoutHandler()
_handler.setFormatter(formatter)
logger = logging.getLogger("mixpanel_forwarder")
logger.addHandler(_handler)
logger.propagate = False  # the runtime's root handler would write each line a second time, as text
_level, _not_a_level = level_from_env(os.environ)
logger.setLevel(_level)
if _not_a_level:
    logger.warning("variable ignored: it names no log level, so INFO is used", extra={"variable": _not_a_level})


def first_invocation_is_cold() -> bool:
    """Whether the container's first invocation waited for its start (the logs' cold_start, the ColdStart metric): a
    provisioned-concurrency container was started before any request came."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"


_cold_start = first_invocation_is_cold()


def inject_lambda_context(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Every line logged from here on carries the invocation's context, as Powertools' decorator of that name."""

    @functools.wraps(handler)
    def decorated(event: Any, context: Any) -> Any:
        global _cold_start
        formatter.context = {
            "cold_start": _cold_start,
            "function_name": context.function_name,
            "function_memory_size": context.memory_limit_in_mb,
            "function_arn": context.invoked_function_arn,
            "function_request_id": context.aws_request_id,
        }
        _cold_start = False
        return handler(event, context)

    return decorated
