"""Peak RSS of one large invocation, in a fresh process so the peak is that invocation's own.

    python -m bench.memory {ours|naive} PAYLOAD.json EVENTS     (the sink's MIXPANEL_* variables set)

The child reads the invocation JSON and decodes it as the Lambda runtime would, notes its RSS (imports
plus the decoded event: what any handler starts with), resets the kernel's high-water mark, runs the
handler once, checks every event was imported, and prints the invocation's own peak and the process's as
JSON. Peaks are VmHWM, not `ru_maxrss`: on Linux a child started by fork + exec reports its parent's peak
in `ru_maxrss` (here the benchmark's own ~130 MB), which would hide the child's.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import ROOT, SinkProcess


def _status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def _reset_peak() -> bool:
    """Resets VmHWM to the current RSS (Linux 4.0+), so the next peak is the invocation's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _forwarder(implementation: str) -> Callable[[dict[str, Any]], int]:
    """A function that forwards one SQS invocation and returns how many events were imported."""
    if implementation == "naive":
        from bench.naive import NaiveForwarder

        naive = NaiveForwarder(
            os.environ["MIXPANEL_API_URL"],
            os.environ["MIXPANEL_PROJECT_ID"],
            os.environ["MIXPANEL_SERVICE_ACCOUNT_USERNAME"],
            os.environ["MIXPANEL_SERVICE_ACCOUNT_SECRET"],
        )
        return functools.partial(naive.forward, "sqs")

    from localdev.eventgen import lambda_context
    from localdev.invoke import load_handler
    from mixpanel_forwarder import runtime

    handler = load_handler("sqs")

    def ours(event: dict[str, Any]) -> int:
        response = handler(event, lambda_context(function_name="bench-memory"))
        if response["batchItemFailures"]:
            raise AssertionError(f"{len(response['batchItemFailures'])} records reported for retry")
        result = runtime.last_result()
        return int(result.summary()["imported"]) if result is not None else 0

    return ours


def _run(implementation: str, payload: Path, events: int) -> dict[str, Any]:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    forward = _forwarder(implementation)
    event = json.loads(payload.read_bytes())
    before = _status_mib("VmRSS")
    peak_before = _status_mib("VmHWM")  # decoding the invocation's JSON included
    if not _reset_peak():
        raise OSError("cannot reset VmHWM through /proc/self/clear_refs: no per-invocation peak")
    # Powertools writes the invocation's metrics to stdout (CloudWatch in Lambda); stdout is our report here.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        imported = forward(event)
    if imported != events:
        raise AssertionError(f"{implementation}: {imported} of {events} events imported")
    return {
        "implementation": implementation,
        "before_mib": before,
        "peak_mib": _status_mib("VmHWM"),
        "process_peak_mib": max(peak_before, _status_mib("VmHWM")),
        "imported": imported,
    }


def measure(implementation: str, payload: Path, events: int, sink: SinkProcess) -> dict[str, Any]:
    """Runs the child against `sink` and returns what it printed."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.memory", implementation, str(payload), str(events)],
        cwd=ROOT,
        env={**os.environ, **sink.env(), "POWERTOOLS_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.memory {implementation} failed:\n{done.stderr}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


if __name__ == "__main__":
    print(json.dumps(_run(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))))
