"""`make demo`: both functions on every sample event, against the embedded Mixpanel sink.

Prints, per invocation, what was imported, filtered and reported for retry, and why; then a few faults
(outage, strict-mode refusal, bad credentials) to show how each ends; what the Segment, RudderStack and Amplitude
samples became in the sink; and the TRANSFORMS rules at work (localdev/demo_formats.py).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
FAST_RETRIES = {"RETRY_BASE_SECONDS": "0.2", "RETRY_MAX_SECONDS": "1", "RETRY_JITTER_MAX_SECONDS": "0.2"}


def row(label: str, summary: dict[str, Any], response: dict[str, Any]) -> str:
    updates = summary.get("user_updates", 0) + summary.get("group_updates", 0)
    applied = summary.get("user_updates_imported", 0) + summary.get("group_updates_imported", 0)
    filtered = sum(summary.get(count, 0) for count in ("filtered", "user_updates_filtered", "group_updates_filtered"))
    return (
        f"{label:<34} {summary.get('records', 0):>7} {summary.get('events', 0):>6} {summary.get('imported', 0):>8} "
        f"{updates:>7} {applied:>7} {filtered:>8} {len(response['batchItemFailures']):>8}"
    )


def reasons(summary: dict[str, Any]) -> list[str]:
    why = [f"{'':<6}why: {reason} (x{count})" for reason, count in summary.get("reasons", {}).items()]
    return why + [f"{'':<6}filtered by: {rule} (x{count})" for rule, count in summary.get("filtered_by", {}).items()]


def main() -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the demo prints its own summary
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from localdev.demo_formats import VENDOR_SETTINGS, Arrivals, show_transforms
    from localdev.invoke import function_for, invoke
    from localdev.sink import MixpanelSink

    with MixpanelSink() as sink:
        # The project token: profile updates (/engage, /groups) carry it inside them.
        env = {**sink.env(), **FAST_RETRIES, "MIXPANEL_PROJECT_TOKEN": str(sink.token)}
        print(f"Embedded Mixpanel sink on {sink.url}\n")
        header = f"{'invocation':<34} {'records':>7} {'events':>6} {'imported':>8} {'updates':>7} {'applied':>7}"
        print(f"{header} {'filtered':>8} {'reported':>8}")

        def run(label: str, event: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
            outcome = invoke(function_for(event), event, {**env, **(overrides or {})}, remaining_ms=30_000)
            print(row(label, outcome.summary, outcome.response))
            for line in reasons(outcome.summary):
                print(line)
            return outcome.summary

        arrivals: dict[str, Arrivals] = {}
        for path in sorted(EVENTS.glob("*.json")):
            settings = VENDOR_SETTINGS.get(path.name)
            arrived = arrivals[path.name] = Arrivals(sink)
            run(path.name + (" *" if settings is not None else ""), json.loads(path.read_text()), settings)
            arrived.finish()
        print("* another vendor's format, recognised under PAYLOAD_FORMAT=auto (Segment's: MIXPANEL_ID_MERGE=original)")

        standard = json.loads((EVENTS / "sqs-standard.json").read_text())
        scenarios: list[tuple[str, Callable[[], None], dict[str, str]]] = [
            ("redelivery (deduplicated)", lambda: None, {}),
            ("503 twice, then OK", lambda: sink.fail_next(503, 2), {}),
            ("strict 400 for one event", sink.reject_next, {}),
            ("bad credentials (401)", lambda: None, {"MIXPANEL_SERVICE_ACCOUNT_SECRET": "wrong"}),
        ]
        print("\nFaults (sqs-standard.json again):")
        for label, arrange, overrides in scenarios:
            arrange()
            run(label, standard, overrides)

        print("\nWhat the other vendors' messages became (a few properties of each event, and the profiles):")
        for name in VENDOR_SETTINGS:
            print(f"  {name}:")
            print("\n".join(arrivals[name].lines))
        show_transforms(run, sink)

        print(f"\nThe sink imported {len(sink.events)} distinct events ({sink.duplicates} duplicates dropped by ")
        print("$insert_id, as Mixpanel would). Requests by status:", json.dumps(sink.stats().get("by_status", {})))
        print(f"Profiles it holds: {len(sink.users)} users, {len(sink.groups)} groups; for example:")
        for key, profile in [*sorted(sink.users.items())[:1], *sorted(sink.groups.items())[:1]]:
            print(f"  {key}: {json.dumps(profile.properties)}")
        print("\nOne imported event, a Segment track call as Mixpanel has it:")
        print(json.dumps(next(e for e in sink.events if e["event"] == "Product Added"), indent=2))
    print(
        "\nRecords 'reported' are returned in batchItemFailures: Lambda delivers them again. With "
        "DEAD_LETTER_QUEUE_URL set, events that can never succeed are parked there with their reason instead."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
