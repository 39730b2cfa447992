"""log.py writes Powertools Logger's lines for the calls the forwarder makes: the same keys in the same order,
before and inside an invocation, with `extra` of every kind; the level from the same variables; and a line that
Powertools would lose (a lone surrogate) is written escaped."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import IO, Any

import pytest

from mixpanel_forwarder import log

CONTEXT = SimpleNamespace(
    function_name="mixpanel-forwarder-SqsForwarder",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:mixpanel-forwarder-SqsForwarder",
    aws_request_id="c6af9ac6-7b61-11e6-9a41-93e812345678",
)
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
EXTRAS: list[dict[str, Any]] = [
    {},
    {"variable": "MIXPANEL_PROJCT_ID", "did_you_mean": "MIXPANEL_PROJECT_ID"},
    {"records": 3, "events": {"imported": 2, "parked": [1, None]}, "ratio": 0.5, "ok": True, "none": None},
    {"big": 10**30, "text": "Zürich ☃ 東京", "nan": float("nan"), "object": KeyError("k"), "bytes": b"\x00"},
    {"service": "overridden", "level": "overridden too"},
]


@pytest.fixture(autouse=True)
def cold_container(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.logging import logger as powertools_logger

    monkeypatch.setattr(powertools_logger, "is_cold_start", True)
    monkeypatch.setattr(log, "_cold_start", True)
    monkeypatch.setattr(log.formatter, "context", {})


@contextmanager
def stdout_of_the_handler(stream: IO[str]) -> Iterator[None]:
    """The handler writes to standard output as it was at import, as Powertools' does: pointed at `stream` here."""
    previous = log.logger.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        log.logger.handlers[0].setStream(previous)  # type: ignore[attr-defined]


def written(logger: Any, inject: Callable[..., Any], extra: dict[str, Any], stream: io.StringIO) -> list[Any]:
    """What one call before an invocation and one call inside each of two invocations write, as JSON objects without
    the time and the line number (the two loggers are called from different lines)."""

    @inject
    def handler(event: Any, context: Any) -> None:
        logger.info("invocation summary", extra=extra)

    logger.warning("before any invocation", extra=extra)
    handler({}, CONTEXT)
    handler({}, CONTEXT)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for line in lines:
        assert line.pop("timestamp")
        assert line.pop("location").rsplit(":", 1)[0] in {"written", "handler"}
    return lines


@pytest.mark.parametrize("extra", EXTRAS, ids=["none", "setting", "nested", "odd-values", "reserved-keys"])
@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
def test_lines_are_powertools_logger_lines(
    extra: dict[str, Any], traced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools import Logger

    if traced:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    else:
        monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    # Powertools configures the standard library's logger of the service's name once per process: a fresh one here.
    monkeypatch.delitem(logging.Logger.manager.loggerDict, log.SERVICE, raising=False)
    theirs_stream = io.StringIO()
    powertools = Logger(service=log.SERVICE, logger_handler=logging.StreamHandler(theirs_stream), level="INFO")
    theirs = written(powertools, powertools.inject_lambda_context, extra, theirs_stream)
    ours_stream = io.StringIO()
    with stdout_of_the_handler(ours_stream):
        ours = written(log.logger, log.inject_lambda_context, extra, ours_stream)

    assert [json.dumps(line) for line in ours] == [json.dumps(line) for line in theirs]  # the same keys in order
    assert [line.get("cold_start") for line in ours] == [None, True, False]
    assert ("xray_trace_id" in ours[0]) is traced


def test_the_time_is_powertools_format_in_utc() -> None:
    stream = io.StringIO()
    with stdout_of_the_handler(stream):
        log.logger.warning("now")

    timestamp = json.loads(stream.getvalue())["timestamp"]
    assert len(timestamp) == len("2026-12-06 10:54:59,404+0000")
    assert timestamp.endswith("+0000")
    assert timestamp[19] == ","


def test_an_exception_is_logged_with_its_traceback_and_name() -> None:
    stream = io.StringIO()
    with stdout_of_the_handler(stream):
        try:
            {}["missing"]
        except KeyError:
            log.logger.exception("failed")

    line = json.loads(stream.getvalue())
    assert line["level"] == "ERROR"
    assert line["exception_name"] == "KeyError"
    assert line["exception"].startswith("Traceback")
    assert "'missing'" in line["exception"]


def test_a_lone_surrogate_is_written_escaped_not_lost() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # strict, as Lambda's stdout
    with stdout_of_the_handler(stream):
        log.logger.warning("odd", extra={"event": "a\ud800b", "city": "Zürich"})
    stream.flush()

    raw = stream.buffer.getvalue()  # type: ignore[attr-defined]
    assert b"\\ud800" in raw
    assert json.loads(raw)["event"] == "a\ud800b"


@pytest.mark.parametrize(
    ("env", "level", "ignored"),
    [
        ({}, "INFO", None),
        ({"POWERTOOLS_LOG_LEVEL": "warning"}, "WARNING", None),
        ({"POWERTOOLS_LOG_LEVEL": "WARN"}, "WARN", None),
        ({"LOG_LEVEL": "DEBUG"}, "DEBUG", None),
        ({"POWERTOOLS_LOG_LEVEL": "ERROR", "LOG_LEVEL": "DEBUG"}, "ERROR", None),
        ({"AWS_LAMBDA_LOG_LEVEL": "WARN", "POWERTOOLS_LOG_LEVEL": "DEBUG"}, "WARNING", None),
        ({"AWS_LAMBDA_LOG_LEVEL": "TRACE"}, "NOTSET", None),
        ({"AWS_LAMBDA_LOG_LEVEL": "FATAL"}, "CRITICAL", None),
        ({"POWERTOOLS_LOG_LEVEL": "verbose"}, "INFO", "POWERTOOLS_LOG_LEVEL"),
        ({"POWERTOOLS_LOG_LEVEL": "", "LOG_LEVEL": "Level 5"}, "INFO", "LOG_LEVEL"),
    ],
)
def test_the_level_follows_powertools_precedence(env: dict[str, str], level: str, ignored: str | None) -> None:
    assert log.level_from_env(env) == (level, ignored)


def test_a_level_that_is_none_is_named_in_a_warning_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys
    from pathlib import Path

    layer = Path(log.__file__).resolve().parents[1]
    code = "import sys; sys.path.insert(0, sys.argv[1]); from mixpanel_forwarder.log import logger; logger.info('up')"
    env = {"POWERTOOLS_LOG_LEVEL": "loud", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code, str(layer)], capture_output=True, text=True, env=env, check=True)

    warning, info = (json.loads(line) for line in run.stdout.splitlines())
    assert (warning["level"], warning["variable"]) == ("WARNING", "POWERTOOLS_LOG_LEVEL")
    assert info["message"] == "up"


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def _cycle() -> dict[str, Any]:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    return cycle


def _deep() -> dict[str, Any]:
    """Deeper than the recursion limit of every Python the forwarder runs on: 3.12 and later bound the JSON encoder's
    recursion by a C stack limit of its own (some thousands of levels), not by sys.getrecursionlimit()."""
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(max(sys.getrecursionlimit(), 50_000)):
        inner["a"] = {}
        inner = inner["a"]
    return deep


@pytest.mark.parametrize(
    ("odd", "kind"),
    [(_cycle(), "dict"), ({(1, 2): 3}, "dict"), (_Unprintable(), "_Unprintable"), (_deep(), "dict")],
    ids=["cycle", "tuple-key", "unprintable", "past-recursion-limit"],
)
def test_a_value_json_cannot_hold_is_marked_and_the_line_still_written(
    odd: Any, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Powertools writes no line for these (a traceback on stderr instead, or RecursionError into the caller)
    stream = io.StringIO()
    with stdout_of_the_handler(stream):
        log.logger.warning("invocation summary", extra={"records": 3, "odd": odd, "source": "sqs"})

    line = json.loads(stream.getvalue())
    assert (line["message"], line["records"], line["source"]) == ("invocation summary", 3, "sqs")
    assert line["odd"] == f"<not JSON: {kind}>"
    assert capsys.readouterr().err == ""  # no "--- Logging error ---"


def test_a_message_whose_arguments_do_not_fit_is_written_as_given() -> None:
    # The formatter itself: pytest's own capture handlers on the logger would format the record too, and raise
    record = log.logger.makeRecord(
        log.logger.name, logging.WARNING, __file__, 1, "%s of %s records", (3,), None, extra={"source": "sqs"}
    )

    line = json.loads(log.formatter.format(record))

    assert (line["message"], line["source"]) == ("%s of %s records", "sqs")
