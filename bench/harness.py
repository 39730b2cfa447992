"""The sink in a process of its own, and one measured invocation of ours or of the naive forwarder.

The sink decodes, validates and deduplicates every request: in the benchmark's own process that CPU
would be charged to the forwarder, so it runs apart and only the forwarder's process is measured.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.data import Shape

ROOT = Path(__file__).resolve().parent.parent
PROJECT_ID = "4242"
USERNAME = "sink-user"
SECRET = "sink-secret"  # noqa: S105 - the embedded sink's local dummy
TOKEN = "sink-token"  # noqa: S105 - the project token `python -m localdev.sink` takes updates with (its default)


@dataclass
class SinkProcess:
    """`python -m localdev.sink --port 0` as a child; the port is read from its first line of output."""

    process: subprocess.Popen[str]
    url: str

    def env(self) -> dict[str, str]:
        """What the handlers read on their first call."""
        return {
            "MIXPANEL_API_URL": self.url,
            "MIXPANEL_PROJECT_ID": PROJECT_ID,
            "MIXPANEL_SERVICE_ACCOUNT_USERNAME": USERNAME,
            "MIXPANEL_SERVICE_ACCOUNT_SECRET": SECRET,
            "MIXPANEL_PROJECT_TOKEN": TOKEN,  # for profile updates only: /import keeps the service account
        }

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as answer:  # noqa: S310 - loopback http
            stats: dict[str, Any] = json.loads(answer.read())
        return stats

    def cpu_seconds(self) -> float:
        """The sink's own CPU so far (user + system), from /proc: shows it is not charged to the forwarder."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def sink_process() -> Iterator[SinkProcess]:
    """A sink on a free loopback port (never a fixed one: another sink may already hold it), stopped after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "localdev.sink", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if "listening on " not in first:
            raise RuntimeError(f"the sink did not start: {first!r}")
        url = first.split("listening on ", 1)[1].split()[0]
        yield SinkProcess(process, url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Run:
    """One invocation: process CPU (all threads) and wall time, in microseconds."""

    cpu_us: float
    wall_us: float


class Implementation(Protocol):
    """A forwarder under test: `run` is timed, `check` is not."""

    name: str
    # Whether it forwards more than Mixpanel events under the default settings (profile updates, other formats,
    # TRANSFORMS): without, it runs on the plain invocations alone (`Shape.plain`).
    complete: bool

    def prepare(self, shape: Shape) -> None:
        """Before the timed span: anything `run` needs for `shape` beyond the decoded event."""
        ...

    def run(self, shape: Shape, event: dict[str, Any]) -> object: ...

    def check(self, shape: Shape, outcome: object) -> None:
        """Raises AssertionError unless every event and update of `shape` was imported."""
        ...


def _received(stats: dict[str, Any]) -> dict[str, int]:
    """What the sink took so far: events (imported or deduplicated), user and group updates applied."""
    return {
        "events": stats["imported"] + stats["duplicates"],
        "user updates": stats.get("engage", {}).get("applied", 0),
        "group updates": stats.get("groups", {}).get("applied", 0),
    }


def _refused(stats: dict[str, Any]) -> dict[str, int]:
    """Every answer but a 200, and updates refused or taken with another project's token, by endpoint."""
    refused = {f"/import {k}": v for k, v in stats["by_status"].items() if k != "200"}
    for endpoint in ("engage", "groups"):
        block = stats.get(endpoint, {})
        refused |= {f"/{endpoint} {k}": v for k, v in block.get("by_status", {}).items() if k != "200"}
        refused |= {f"/{endpoint} {k}": block[k] for k in ("refused", "wrong_token") if k in block}
    return refused


def measure(implementation: Implementation, shape: Shape, sink: SinkProcess) -> Run:
    """Times one invocation on a freshly decoded event, then checks that every message reached the sink.

    The checks run outside the timed span; a run that lost, refused or retried anything raises, so a
    fast-but-wrong forwarder cannot produce a number.
    """
    event = shape.event()
    implementation.prepare(shape)
    before = sink.stats()
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcome = implementation.run(shape, event)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    implementation.check(shape, outcome)
    after = sink.stats()
    was, now = _received(before), _received(after)
    received = {kind: now[kind] - was[kind] for kind in now}
    expected = {"events": shape.events, "user updates": shape.users, "group updates": shape.groups}  # not filtered
    was_refused = _refused(before)
    refused = {k: v - was_refused.get(k, 0) for k, v in _refused(after).items()}
    if received != expected or any(refused.values()):
        raise AssertionError(
            f"{implementation.name} on {shape.name}: the sink took {received} of {expected}; other answers {refused}"
        )
    return Run((cpu1 - cpu0) * 1e6, (wall1 - wall0) * 1e6)


class Ours:
    """The real handlers, loaded from their files as Lambda loads them, settings from the sink's env; a shape with
    settings of its own (TRANSFORMS) runs on a container's forwarder built with them, made once and kept."""

    name = "ours"
    complete = True

    def __init__(self, sink: SinkProcess) -> None:
        os.environ.update(sink.env())
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # before the library creates its logger
        from localdev.invoke import load_handler
        from mixpanel_forwarder import runtime
        from mixpanel_forwarder.forwarder import Forwarder

        runtime.reset()  # a fresh container: settings (the sink's URL) are read again on the first call
        self._handlers = {"sqs": load_handler("sqs"), "kinesis": load_handler("kinesis")}
        self._devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the benchmark
        self._forwarders: dict[tuple[tuple[str, str], ...], Forwarder] = {(): runtime.forwarder()}

    def _container(self, settings: tuple[tuple[str, str], ...]) -> None:
        """The handlers' forwarder (the container's, `runtime._forwarder`) for `settings`: swapped outside the timed
        span, so each is built, and its connections opened, once (in the warm-up), as in a warm container."""
        from mixpanel_forwarder import runtime
        from mixpanel_forwarder.forwarder import Forwarder
        from mixpanel_forwarder.settings import Settings

        if settings not in self._forwarders:
            self._forwarders[settings] = Forwarder(Settings.from_env({**os.environ, **dict(settings)}))
        runtime._forwarder = self._forwarders[settings]

    def prepare(self, shape: Shape) -> None:
        self._container(shape.settings)

    def run(self, shape: Shape, event: dict[str, Any]) -> object:
        from localdev.eventgen import lambda_context

        context = lambda_context(function_name=f"{shape.source}-forwarder")
        # Powertools writes each invocation's metrics (EMF) to stdout: still paid for, just not shown.
        with contextlib.redirect_stdout(self._devnull):
            return self._handlers[shape.source](event, context)

    def check(self, shape: Shape, outcome: object) -> None:
        from mixpanel_forwarder import runtime

        assert isinstance(outcome, dict)
        result = runtime.last_result()
        counts = result.counts() if result is not None else {}
        imported = [counts.get(name, 0) for name in ("imported", "user_updates_imported", "group_updates_imported")]
        expected = [shape.events, shape.users, shape.groups]
        if outcome.get("batchItemFailures") or imported != expected:
            failures = len(outcome.get("batchItemFailures") or ())
            raise AssertionError(
                f"ours on {shape.name}: {imported} of {expected} (events, user, group updates) imported, "
                f"{failures} reported"
            )
        filtered_by = result.summary().get("filtered_by", {}) if result is not None else {}
        if counts.get("filtered", 0) != shape.filtered or filtered_by != shape.filtered_by:
            raise AssertionError(
                f"ours on {shape.name}: {counts.get('filtered', 0)} filtered ({filtered_by}), expected "
                f"{shape.filtered} ({shape.filtered_by})"
            )


class Naive:
    """bench.naive against the same sink, with the same credentials (`floor`: on ours' codecs)."""

    complete = False  # no /engage or /groups path, no other format, no TRANSFORMS: it is given none of these

    def __init__(self, sink: SinkProcess, *, floor: bool = False) -> None:
        from bench.naive import FloorForwarder, NaiveForwarder

        self.name = "floor" if floor else "naive"
        forwarder = FloorForwarder if floor else NaiveForwarder
        self._forwarder = forwarder(sink.url, PROJECT_ID, USERNAME, SECRET)

    def prepare(self, shape: Shape) -> None:
        pass

    def run(self, shape: Shape, event: dict[str, Any]) -> object:
        return self._forwarder.forward(shape.source, event)

    def check(self, shape: Shape, outcome: object) -> None:
        if outcome != shape.events:
            raise AssertionError(f"{self.name} on {shape.name}: {outcome} of {shape.events} imported")
