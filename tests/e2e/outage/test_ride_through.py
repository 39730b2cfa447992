"""Riding through outages and throttling, end to end, time-scaled: the real handlers through the event-source-mapping
simulator at the template's default settings (SQS standard, SQS FIFO, Kinesis), Mixpanel (the sink) down for hours,
flapping, or rate-limited under a backfill at three times its limit; producers sending all along.

The issue's bar, for every scenario: no message lost, none in a source DLQ, none stranded (handed on by Lambda and
not forwarded again), no event imported twice under different `$insert_id`s, every source drained; for the backfill,
goodput of at least 85% of the rate limit (60% in the short form: scenarios.py says why). `make test` runs the short
form (scenarios.py); `make e2e-outage` the full one, and ends with the one line report.last_line() prints.
"""

from __future__ import annotations

import pytest

from tests.e2e.outage.measure import Measured, measure
from tests.e2e.outage.report import RESULTS, render
from tests.e2e.outage.scenario import Scenario, drive, running
from tests.e2e.outage.scenarios import backfill_scenario, outage_scenarios

pytestmark = pytest.mark.e2e_outage


def ride(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> Measured:
    with running(scenario, monkeypatch) as run:
        drive(run)
        measured = measure(run)
        print("\n" + render(run, measured))
    return measured


def assert_the_bar(measured: Measured) -> None:
    assert measured.drained, "the sources were not drained within the scenario's allowance"
    assert (measured.lost, measured.in_source_dlq, measured.stranded) == (0, 0, 0)
    assert measured.duplicated_events == 0


@pytest.mark.parametrize("scenario", outage_scenarios(), ids=lambda scenario: scenario.tag)
def test_an_outage_loses_nothing_needs_no_one_and_duplicates_nothing(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the stack at its defaults and producers sending steadily
    WHEN Mixpanel is down for hours (answering 503 and 502, resetting connections, hanging), or flapping
    THEN every message lands once Mixpanel is back: none lost, in a source DLQ or stranded, no event twice."""
    measured = ride(scenario, monkeypatch)
    RESULTS["outage"].append(measured)
    assert_the_bar(measured)


def test_a_backfill_at_three_times_the_rate_limit_imports_near_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a sink admitting at most N events a rolling minute
    WHEN producers send three times that, steadily
    THEN everything lands (none lost, in a source DLQ or stranded), and events are imported at 85% of the limit or
    more, over the whole minutes from the limit's first 429 until the backlog ended (nothing visible in a source)."""
    scenario = backfill_scenario()
    measured = ride(scenario, monkeypatch)
    RESULTS["backfill"].append(measured)
    assert_the_bar(measured)
    assert measured.goodput is not None
    assert measured.goodput >= scenario.goodput_floor
