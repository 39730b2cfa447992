"""npm `mixpanel-import`, the most used importer, on the same events and the same sink.

`make bench` installs the pinned version into bench/node_modules; bench/mixpanel_import_run.cjs points
it at the sink (it has no API-host option) and reports its CPU with process.cpuUsage(). Each round is one
node process: a warm-up import of the file, then a measured one, so the JIT and the connections are warm
as ours are.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.harness import PROJECT_ID, ROOT, SECRET, USERNAME, Run, SinkProcess

BENCH = ROOT / "bench"
RUNNER = BENCH / "mixpanel_import_run.cjs"
PACKAGE = BENCH / "node_modules" / "mixpanel-import" / "package.json"


@dataclass(frozen=True)
class Npm:
    node: str
    version: str


def available() -> Npm | str:
    """What runs it, or why it cannot run (said in the results, never silently skipped)."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    if not PACKAGE.exists():
        return "mixpanel-import is not installed in bench/node_modules (`make bench` installs it)"
    version = subprocess.run(  # noqa: S603 - the node found on PATH
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    package = json.loads(PACKAGE.read_text())
    return Npm(f"node {version}", str(package["version"]))


def measure(npm: Npm, ndjson: Path, events: int, sink: SinkProcess) -> Run:
    """One round: warm-up and measured import of `ndjson`; raises unless every event was imported both times."""
    node = shutil.which("node") or "node"
    before = sink.stats()
    done = subprocess.run(  # noqa: S603 - node on our own script
        [node, str(RUNNER), sink.url, str(ndjson), PROJECT_ID, USERNAME, SECRET, "2"],
        cwd=BENCH,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mixpanel-import failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for result in report["results"]:
        if result["success"] != events or result["failed"]:
            raise AssertionError(f"mixpanel-import imported {result['success']} of {events} events: {result}")
    after = sink.stats()
    received = (after["imported"] + after["duplicates"]) - (before["imported"] + before["duplicates"])
    if received != events * len(report["results"]):
        raise AssertionError(f"the sink received {received} events from mixpanel-import, not {events} per import")
    measured = report["results"][-1]
    return Run(float(measured["cpu_us"]), float(measured["wall_us"]))
