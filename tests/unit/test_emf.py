"""emf.py writes what Powertools Metrics writes for the same calls: the documents, their order and when they are
written (on return, on a raise, early at 100, the cold start once), and the variables that silence them."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mixpanel_forwarder import emf

NAMESPACE, SERVICE = "MixpanelForwarder", "mixpanel-forwarder"
CONTEXT = SimpleNamespace(function_name="fn", memory_limit_in_mb=256, invoked_function_arn="arn", aws_request_id="r")


def powertools_metrics() -> Any:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics.provider import cold_start

    cold_start.is_cold_start = True  # module-wide in Powertools: another test may have spent it
    return Metrics(namespace=NAMESPACE, service=SERVICE)


def lines(run: Callable[[], Any]) -> list[dict[str, Any]]:
    """The JSON documents `run` prints, without the time they were written."""
    output = io.StringIO()
    with redirect_stdout(output), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Powertools warns of an empty set at a flush; emf.py writes nothing then
        with contextlib.suppress(ZeroDivisionError):
            run()
    documents = [json.loads(line) for line in output.getvalue().splitlines()]
    for document in documents:
        del document["_aws"]["Timestamp"]
    return documents


def invocations(metrics: Any, *, cold_start: bool, raising_first: bool = False) -> Callable[[], None]:
    """Two invocations through log_metrics, each adding a dimension and metrics; the first raises if asked."""
    calls = iter([raising_first, False])

    @metrics.log_metrics(capture_cold_start_metric=cold_start)
    def handler(event: Any, context: Any) -> str:
        metrics.add_dimension("Source", "sqs")
        metrics.add_metric(name="RecordsReceived", unit="Count", value=event)
        metrics.add_metric(name="MixpanelLatency", unit="Milliseconds", value=12.5)
        metrics.add_metric(name="MixpanelLatency", unit="Milliseconds", value=3)
        if next(calls):
            raise ZeroDivisionError
        return "answer"

    def run() -> None:
        for event in (1, 2):
            with contextlib.suppress(ZeroDivisionError):
                assert handler(event, CONTEXT) == "answer"

    return run


@pytest.mark.parametrize("raising_first", [False, True], ids=["returns", "first-raises"])
@pytest.mark.parametrize("cold_start", [True, False], ids=["cold-start-metric", "none"])
def test_invocations_write_what_powertools_writes(cold_start: bool, raising_first: bool) -> None:
    ours = lines(invocations(emf.Metrics(NAMESPACE, SERVICE), cold_start=cold_start, raising_first=raising_first))
    theirs = lines(invocations(powertools_metrics(), cold_start=cold_start, raising_first=raising_first))

    assert [json.dumps(d) for d in ours] == [json.dumps(d) for d in theirs]  # keys in the same order too
    assert sum("ColdStart" in d for d in ours) == int(cold_start)
    assert ours[-1]["RecordsReceived"] == [2.0]


@pytest.mark.parametrize("names", [1, 99, 100, 101, 250])
def test_a_set_is_written_early_at_100_metrics_or_100_values_as_powertools_does(names: int) -> None:
    def fill(metrics: Any) -> Callable[[], None]:
        def run() -> None:
            metrics.add_dimension("Source", "kinesis")
            for n in range(names):
                metrics.add_metric(name=f"M{n}", unit="Count", value=n)
            for n in range(names):
                metrics.add_metric(name="MixpanelLatency", unit="Milliseconds", value=n / 3)
            metrics.flush_metrics()

        return run

    ours, theirs = lines(fill(emf.Metrics(NAMESPACE, SERVICE))), lines(fill(powertools_metrics()))

    assert [json.dumps(d) for d in ours] == [json.dumps(d) for d in theirs]


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"POWERTOOLS_METRICS_DISABLED": "true"},
        {"POWERTOOLS_METRICS_DISABLED": "True"},
        {"POWERTOOLS_METRICS_DISABLED": "1"},
        {"POWERTOOLS_METRICS_DISABLED": "false"},
        {"POWERTOOLS_DEV": "true"},
        {"POWERTOOLS_DEV": "true", "POWERTOOLS_METRICS_DISABLED": "false"},
        {"POWERTOOLS_DEV": "false"},
    ],
)
def test_metrics_are_silenced_by_the_variables_powertools_reads(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_DEV"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    assert emf.metrics_disabled() is is_metrics_disabled()
    written = lines(invocations(emf.Metrics(NAMESPACE, SERVICE), cold_start=False))
    assert len(written) == (0 if is_metrics_disabled() else 2)


@pytest.mark.parametrize("env", [{"POWERTOOLS_METRICS_DISABLED": "true"}, {"POWERTOOLS_DEV": "1"}])
def test_silenced_metrics_are_not_written_early_either(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Powertools writes the early document even then; silenced means silenced (the local tools, an invocation of 100+
    # requests): nothing is written.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    metrics = emf.Metrics(NAMESPACE, SERVICE)

    def run() -> None:
        for n in range(150):
            metrics.add_metric(name="MixpanelLatency", unit="Milliseconds", value=n)
        metrics.flush_metrics()

    assert lines(run) == []


def test_a_provisioned_concurrency_container_writes_no_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")

    written = lines(invocations(emf.Metrics(NAMESPACE, SERVICE), cold_start=True))

    assert [d for d in written if "ColdStart" in d] == []


def test_the_cold_start_names_the_function_as_powertools_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_FUNCTION_NAME", "named-by-variable")

    [ours] = lines(lambda: emf.Metrics(NAMESPACE, SERVICE).add_cold_start_metric(CONTEXT))
    [theirs] = lines(lambda: powertools_metrics().provider.add_cold_start_metric(CONTEXT))

    assert json.dumps(ours) == json.dumps(theirs)
    assert ours["function_name"] == "named-by-variable"


def test_an_empty_set_writes_nothing() -> None:
    metrics = emf.Metrics(NAMESPACE, SERVICE)
    metrics.add_dimension("Source", "sqs")

    assert lines(metrics.flush_metrics) == []
    with pytest.raises(ValueError, match="at least one metric"):
        metrics.serialize_metric_set()


def test_importing_the_handler_imports_no_powertools() -> None:
    """The point of emf.py and log.py: aws_lambda_powertools (and jmespath, typing_extensions) stay out of init."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import app\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aws_lambda_powertools', 'jmespath', 'boto3')))"
    )
    layer, function = root / "layers" / "forwarder", root / "functions" / "sqs_forwarder"
    out = subprocess.run(
        [sys.executable, "-c", code, str(layer), str(function)], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
