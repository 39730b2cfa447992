"""Backoff with jitter between its base and its cap, and Retry-After read as seconds or an HTTP date."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from mixpanel_forwarder.availability import Availability
from mixpanel_forwarder.retry import Backoff, parse_retry_after
from tests.conftest import make_settings


def test_backoff_doubles_from_base_to_max_with_jitter_in_range() -> None:
    settings = make_settings(retry_base=2.0, retry_max=60.0, retry_jitter_min=1.0, retry_jitter_max=5.0)
    backoff = Backoff(settings, random.Random(7))
    for attempt, floor in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 60), (9, 60)]:
        delay = backoff.delay(attempt)
        assert floor + 1 <= delay <= floor + 5


@pytest.mark.parametrize("attempt", [1025, 1026, 5000, 10**9])
def test_backoff_past_a_thousand_attempts_stays_at_the_maximum(attempt: int) -> None:
    # A container probing through a day-long outage counts a failed probe a minute: 2.0 ** 1025 overflowed
    settings = make_settings(retry_base=2.0, retry_max=60.0, retry_jitter_min=1.0, retry_jitter_max=5.0)
    assert 61.0 <= Backoff(settings, random.Random(1)).delay(attempt) <= 65.0


def test_probes_go_on_past_a_thousand_failures() -> None:
    settings = make_settings(retry_base=2.0, retry_max=60.0, retry_jitter_min=1.0, retry_jitter_max=5.0)
    availability = Availability(Backoff(settings, random.Random(1)), clock=lambda: 0.0, monotonic=lambda: 0.0)
    for _ in range(1100):
        outage = availability.probe_failed()
    assert outage.failures == 1100
    assert 61.0 <= outage.probe_at <= 65.0


def test_backoff_honours_retry_after_seconds() -> None:
    backoff = Backoff(make_settings(retry_base=2.0, retry_jitter_min=1.0, retry_jitter_max=5.0))
    assert backoff.delay(1, "7") == 7.0


@pytest.mark.parametrize("header", ["0", "-5", "0.001", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_retry_after_shorter_than_the_backoff_does_not_shorten_it(header: str) -> None:
    # A server (or a proxy before Mixpanel) that answers every 429 with Retry-After: 0, or a date its clock puts in the
    # past, had each request's attempts sent back to back, and a Kinesis shard (retried at once by Lambda) looping
    settings = make_settings(retry_base=2.0, retry_max=60.0, retry_jitter_min=1.0, retry_jitter_max=5.0)
    backoff = Backoff(settings, random.Random(3))
    for attempt, floor in [(1, 2), (3, 8), (9, 60)]:
        assert floor + 1 <= backoff.delay(attempt, header) <= floor + 5


@pytest.mark.parametrize(("header", "expected"), [(None, None), ("", None), ("soon", None), ("nan", None), ("-3", 0.0)])
def test_parse_retry_after_rejects_nonsense(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
        "Mon, 01 Jan 2020 99999999999999999999:00:00 GMT",
        "Mon, 01 Jan 2020 00:00:00 +99999999999999999999",
    ],
)
def test_a_retry_after_date_with_numbers_past_any_clock_is_nonsense_too(header: str) -> None:
    # email.utils raised OverflowError for these: the sender thread died and its batch was reported as an internal error
    assert parse_retry_after(header) is None
    settings = make_settings(retry_base=2.0, retry_max=60.0, retry_jitter_min=1.0, retry_jitter_max=5.0)
    assert 3.0 <= Backoff(settings, random.Random(1)).delay(1, header) <= 7.0


def test_parse_retry_after_reads_http_dates() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after(when)
    assert seconds is not None
    assert 25 <= seconds <= 31
