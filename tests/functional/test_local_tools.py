"""The docker-free local invoke and the demo, as a user runs them."""

from __future__ import annotations

import json

import pytest

from localdev import demo, invoke
from localdev.sink import MixpanelSink
from tests.functional.conftest import EVENTS


def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the tools set by default, set here so that it is undone after the test."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


def test_invoke_runs_the_handler_against_the_embedded_sink(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIXPANEL_API_URL", raising=False)
    quiet(monkeypatch)
    assert invoke.main(["auto", str(EVENTS / "kinesis-kpl.json")]) == 0

    output = capsys.readouterr().out
    assert output.startswith("embedded sink imported 6 event(s)")
    printed = json.loads(output.split("\n", 1)[1])
    assert printed["response"] == {"batchItemFailures": []}
    assert printed["summary"]["source"] == "kinesis"
    assert printed["summary"]["imported"] == 6


def test_invoke_against_a_given_url_reports_poison_records(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet(monkeypatch)
    with MixpanelSink() as sink:
        for name, value in sink.env().items():
            monkeypatch.setenv(name, value)
        assert invoke.main(["sqs", str(EVENTS / "sqs-poison.json"), "--url", sink.url]) == 0
        imported = len(sink.events)

    printed = json.loads(capsys.readouterr().out)
    assert imported == 2
    assert len(printed["response"]["batchItemFailures"]) == 4
    assert "properties.time" in " ".join(printed["summary"]["reasons"])


def test_demo_prints_every_sample_and_each_fault(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet(monkeypatch)
    assert demo.main() == 0

    output = capsys.readouterr().out
    for path in EVENTS.glob("*.json"):
        assert path.name in output
    assert "bad credentials (401)" in output
    assert "why: Mixpanel answered 401" in output
    assert "duplicates dropped" in output
    # The vendors' samples as they arrived, and the seven TRANSFORMS rules with what they filtered.
    assert "What the other vendors' messages became" in output
    assert '    Product Added: distinct_id="user-1400"' in output
    assert "    group profile ('$group_id', 'company-1400')" in output
    assert "4 events, 7 rules" in output
    assert "filtered by: drop_events (x2)" in output
    assert "    Sign Up: " in output
