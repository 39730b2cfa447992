"""The docker-free local invoke and the demo, as a user runs them."""

from __future__ import annotations

import json
import re

import pytest

from localdev import demo, invoke
from localdev.demo_table import COLUMNS, NAME_WIDTH
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


def cells(output: str, label: str) -> dict[tuple[str, str], int]:
    """The demo's row for `label`, as {(unit, outcome): count}, read by the table's own columns."""
    [line] = [
        line
        for line in output.splitlines()
        if line.startswith(label + " ") and line[len(label) :].strip()[:1].isdigit()
    ]
    counts = [int(cell) for cell in line[NAME_WIDTH:].split()]
    names = [(unit, outcome) for unit, outcomes in COLUMNS.items() for outcome in outcomes]
    assert len(counts) == len(names), line
    return dict(zip(names, counts, strict=True))


def nonzero(counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {column: count for column, count in counts.items() if count}


def test_demo_prints_every_sample_and_each_fault_as_deployed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet(monkeypatch)
    assert demo.main() == 0

    output = capsys.readouterr().out
    for path in EVENTS.glob("*.json"):
        assert path.name in output
    # Every count is labelled with its unit, and what can never succeed is parked (in a real queue), not retried.
    assert re.search(r"\n {32}-+ records -+  -+ events -+  -+ profile updates -+\n", output)
    assert "invocation                      in parked retry  in imported filtered parked retry" in output
    assert nonzero(cells(output, "kinesis-poison.json")) == {
        ("records", "in"): 4,
        ("records", "parked"): 1,  # not JSON: parked whole
        ("events", "in"): 3,
        ("events", "imported"): 2,
        ("events", "parked"): 1,
    }
    assert nonzero(cells(output, "sqs-poison.json")) == {
        ("records", "in"): 6,
        ("records", "parked"): 1,
        ("events", "in"): 5,
        ("events", "imported"): 2,
        ("events", "parked"): 3,
    }
    assert cells(output, "sqs-profiles.json")[("profile updates", "parked")] == 1
    assert cells(output, "strict 400 for one event")[("events", "parked")] == 1
    assert nonzero(cells(output, "bad credentials (401)")) == {
        ("records", "in"): 5,
        ("records", "retry"): 5,
        ("events", "in"): 5,
        ("events", "retry"): 5,
    }
    assert "why: Mixpanel answered 401" in output
    assert "5 records reported: 5 now wait hidden in their queue for their delay" in output
    assert (
        "The rows above parked 8; the parked-events queue holds 8: 5 events, 1 profile update, 2 records.\n" in output
    )
    assert "duplicates dropped by $insert_id).\n" in output  # one sentence, one line
    # The vendors' samples as they arrived.
    assert "What the other vendors' messages became" in output
    assert '    Product Added: distinct_id="user-1400"' in output
    assert "    group profile ('$group_id', 'company-1400')" in output
    # The seven TRANSFORMS rules: each message before and after, or the rule that filtered it.
    assert nonzero(cells(output, "4 messages, 7 rules")) == {
        ("records", "in"): 4,
        ("events", "in"): 4,
        ("events", "imported"): 2,
        ("events", "filtered"): 2,
    }
    assert "filtered by: drop_events (x2)" in output
    assert output.count("  out: filtered by drop_events, counted and never sent\n") == 2
    [signup_in] = [line for line in output.splitlines() if line.startswith('  in:  {"event": "signup"')]
    [signup_out] = [line for line in output.splitlines() if line.startswith('  out: {"event": "Sign Up"')]
    assert "hunter2" in signup_in
    assert "ada@example.com" in signup_in
    assert "hunter2" not in signup_out
    assert "ada@example.com" not in signup_out
    assert '"pipeline": "kinesis-prod"' in signup_out
    # The next step, last.
    assert output.rstrip().splitlines()[-1] == demo.NEXT_STEP
    assert "make invoke FUNCTION=SqsForwarderFunction EVENT=events/sqs-standard.json" in demo.NEXT_STEP
