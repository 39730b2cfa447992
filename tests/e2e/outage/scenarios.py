"""The scenarios, in two sizes: the full ones `make e2e-outage` runs (E2E_OUTAGE=full), and a short form for
`make test` (smaller numbers, shorter outages, the same assertions).

SCALE: every invocation's own work (decoding, the sink's answers, moto's calls) takes real milliseconds that the
scaled clock multiplies by SCALE; the function's deadline margin (3 s) and request timeout (15 s) are divided by it.
At SCALE 60 a healthy invocation of a few records (~10 ms real) is ~0.6 s of the 60 s timeout, and the margin is
50 ms real, several times the longest wrap-up seen after a deadline on two busy cores. A backfill's invocations are
larger (a thousand records, thousands of events): it runs at a lower SCALE, so that its requests are not cut by a
request timeout the sink cannot meet in real time. See the README's "Riding through outages" for the figures.

Producers send at a steady rate throughout (every shape of the e2e producers, poison included: parked while
Mixpanel is down as when it is up); the arrival rate is stated in each table's head (messages over hours).
"""

from __future__ import annotations

import os

from tests.e2e.outage.scenario import Down, Scenario

HOUR = 3600.0
FULL = os.environ.get("E2E_OUTAGE", "") == "full"
# Mixpanel's advice for 429s: "Start with a 2-second backoff, double it up to a maximum of 60 seconds"; the rate
# limit is "measured on a rolling 1 minute basis" (docs.mixpanel.com/reference/rate-limits). The limit here is scaled
# down to what this machine can forward (Mixpanel's is ~30,000 events/s) but stays well above the largest request
# (2,000 events), so that a request never fails for being larger than the limit.
BACKFILL_EVENTS_SHARE = 0.7  # of the messages produced (workload.py's shares: the rest are profile updates)


def _backfill(
    events: int, limit: int, *, scale: float, tag: str, request_events: int | None = None, floor: float = 85.0
) -> Scenario:
    window = 60.0
    offered_per_s = 3 * limit / window  # producers offer three times the limit
    messages = int(events / BACKFILL_EVENTS_SHARE)
    return Scenario(
        f"backfill of {events:,} events at 3x a rate-limited sink",
        tag,
        scale=scale,
        messages=messages,
        produce_s=events / offered_per_s,
        rate_limit=(window, limit),
        settings=(("BATCH_MAX_EVENTS", str(request_events)),) if request_events else (),
        drain_s=6 * HOUR,
        goodput_floor=floor,
    )


def outage_scenarios() -> list[Scenario]:
    if FULL:
        return [
            Scenario(
                "6-hour outage (503/502, resets, hangs)",
                "sx",
                scale=60,
                messages=8_000,
                produce_s=6.75 * HOUR,
                down=(Down(0.25 * HOUR, 6.25 * HOUR),),
            ),
            Scenario(
                "24-hour outage (503/502, resets, hangs)",
                "tf",
                scale=60,
                messages=24_000,
                produce_s=24.75 * HOUR,
                down=(Down(0.25 * HOUR, 24.25 * HOUR),),
            ),
            Scenario(
                "flapping: down 5 min, up 5 min, for 6 hours",
                "fl",
                scale=60,
                messages=8_000,
                produce_s=6.75 * HOUR,
                down=(Down(0.25 * HOUR, 6.25 * HOUR, down_s=300, up_s=300),),
            ),
        ]
    return [
        Scenario(
            "short: a 20-minute outage, then 15 minutes flapping 3 min down, 2 up",
            "so",
            scale=90,
            messages=1_200,
            produce_s=45 * 60,
            down=(Down(5 * 60, 25 * 60), Down(30 * 60, 45 * 60, down_s=180, up_s=120)),
        ),
    ]


def backfill_scenario() -> Scenario:
    if FULL:
        return _backfill(200_000, 24_000, scale=1, tag="bf")
    # Limit and requests small enough that the backlog lasts several whole minutes after the first minute's burst.
    # At SCALE 10 the harness's own work on a busy machine (a pause of 100 ms is a second of the limit's minute) moves
    # the short form's goodput between 77% and 92% (five runs): it checks that throttling slows the forwarder without
    # stalling it, and the full run (SCALE 1) holds the 85%.
    return _backfill(10_000, 2_000, scale=10, tag="sb", request_events=200, floor=60.0)
