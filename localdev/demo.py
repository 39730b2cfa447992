"""`make demo`: both functions on every sample event, as deployed, against the embedded Mixpanel sink.

As the stack deploys them, the functions park what can never succeed in a parked-events queue: here a queue of moto's
server, started for the demo, read back at the end. Prints, per invocation, its records, events and profile updates
by outcome (imported, filtered, parked, retry) and why; then a few faults (outage, strict-mode refusal, bad
credentials, the reported records hidden in their queue for real); what the Segment, RudderStack and Amplitude samples
became in the sink; and the TRANSFORMS rules at work, each message before and after (localdev/demo_formats.py).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localdev.demo_table import LEGEND, header, parked, reasons, row

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
FAST_RETRIES = {"RETRY_BASE_SECONDS": "0.2", "RETRY_MAX_SECONDS": "1", "RETRY_JITTER_MAX_SECONDS": "0.2"}
NEXT_STEP = (
    "Next: make invoke FUNCTION=SqsForwarderFunction EVENT=events/sqs-standard.json runs one in Lambda's own runtime; "
    "then deploy (README.md#deploy)."
)


def main() -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the demo prints its own summary
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from localdev.demo_formats import VENDOR_SETTINGS, Arrivals, show_transforms
    from localdev.demo_queues import example, local_queues, units
    from localdev.invoke import function_for, invoke
    from localdev.sink import MixpanelSink

    with MixpanelSink() as sink, local_queues() as queues:
        # The project token: profile updates (/engage, /groups) carry it inside them.
        env = {**sink.env(), **queues.env(), **FAST_RETRIES, "MIXPANEL_PROJECT_TOKEN": str(sink.token)}
        print(f"Embedded Mixpanel sink on {sink.url}; the parked-events queue in moto's server on {queues.url}.\n")
        print("\n".join(LEGEND) + "\n")
        print("\n".join(header()))
        parked_in_rows = 0

        def run(label: str, event: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
            nonlocal parked_in_rows
            outcome = invoke(function_for(event), event, {**env, **(overrides or {})}, remaining_ms=30_000)
            print(row(label, outcome.summary))
            for line in reasons(outcome.summary):
                print(line)
            parked_in_rows += parked(outcome.summary)
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
        ]
        print("\nFaults (sqs-standard.json again):")
        for label, arrange, overrides in scenarios:
            arrange()
            run(label, standard, overrides)
        # Refused credentials: every record is reported, and hidden in its queue for its delay (from the source queue
        # in moto's server, as Lambda's poller receives them, so that the hiding is real).
        summary = run("bad credentials (401)", queues.delivered(standard), {"MIXPANEL_SERVICE_ACCOUNT_SECRET": "wrong"})
        print(
            f"{'':<6}{summary.get('records_backed_off', 0)} records reported: {queues.hidden()} now wait hidden in "
            "their queue for their delay, then Lambda delivers them again."
        )

        print("\nWhat the other vendors' messages became (a few properties of each event, and the profiles):")
        for name in VENDOR_SETTINGS:
            print(f"  {name}:")
            print("\n".join(arrivals[name].lines))
        show_transforms(run, sink)

        taken = queues.take_parked()
        print(f"\nThe rows above parked {parked_in_rows}; the parked-events queue holds {len(taken)}: {units(taken)}.")
        print(f"Each waits there with its reason and origin, for a replay or a purge; one of them: {example(taken)}")
        imported, duplicates = len(sink.events), sink.duplicates
        print(f"\nThe sink imported {imported} distinct events ({duplicates} duplicates dropped by $insert_id).")
        print("Requests by status:", json.dumps(sink.stats().get("by_status", {})))
        print(f"Profiles it holds: {len(sink.users)} users, {len(sink.groups)} groups; for example:")
        for key, profile in [*sorted(sink.users.items())[:1], *sorted(sink.groups.items())[:1]]:
            print(f"  {key}: {json.dumps(profile.properties)}")
        print("\nOne imported event, a Segment track call as Mixpanel has it:")
        print(json.dumps(next(e for e in sink.events if e["event"] == "Product Added"), indent=2))
    print(f"\n{NEXT_STEP}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
