"""The function's containers: one Forwarder per container, each with its own state (its HTTP pool, and whatever it
learns of Mixpanel across invocations), built on the container's first invocation from its function's environment
as deployed, with every setting the function measures in real time divided by SCALE, and the scaled clock as its
clock. The real handlers (functions/*/app.py) run unchanged: `runtime.forwarder`, which they ask for the container's
forwarder, answers with the calling thread's (a thread is a container, reused across its invocations).

What each invocation did (runtime's Result) goes to `on_result`; `runtime.last_result()` is one per process, so with
concurrent containers it would be another's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from mixpanel_forwarder import runtime
from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.result import Result
from mixpanel_forwarder.setting_names import KNOWN_SETTINGS
from mixpanel_forwarder.settings import Settings
from mixpanel_forwarder.sources import Source
from tests.e2e.outage.clock import ScaledClock

# Durations the function measures in real time (its deadline, socket timeouts, sleeps): divided by SCALE. Each maps
# to its Settings field, read for its default; a setting this library version does not have is skipped.
REAL_TIME_SETTINGS = {
    "REQUEST_TIMEOUT_SECONDS": "request_timeout",
    "CONNECT_TIMEOUT_SECONDS": "connect_timeout",
    "DEADLINE_MARGIN_MS": "deadline_margin_ms",
    "RETRY_BASE_SECONDS": "retry_base",
    "RETRY_MAX_SECONDS": "retry_max",
    "RETRY_JITTER_MIN_SECONDS": "retry_jitter_min",
    "RETRY_JITTER_MAX_SECONDS": "retry_jitter_max",
    "PROBE_TIMEOUT_SECONDS": "probe_timeout",
}
# Durations on a source's clock (seconds of SQS visibility), which the scaled moto keeps: left as they are.
SOURCE_CLOCK_SETTINGS = frozenset({"SQS_RETRY_BASE_SECONDS", "SQS_RETRY_MAX_SECONDS"})
OnResult = Callable[[str, Result], None]


def unclassified_time_settings(names: frozenset[str] = KNOWN_SETTINGS) -> list[str]:
    """Settings that look like durations but are in neither list: scaling must be decided for each."""
    durations = [name for name in names if name.endswith(("_SECONDS", "_MS"))]
    return sorted(set(durations) - set(REAL_TIME_SETTINGS) - SOURCE_CLOCK_SETTINGS)


def scaled_environment(environment: Mapping[str, str], scale: float) -> dict[str, str]:
    """`environment` with each real-time duration (given, or its default) divided by `scale`."""
    unclassified = unclassified_time_settings()
    if unclassified:
        raise AssertionError(f"say whether these durations run in real time or on a source's clock: {unclassified}")
    defaults = Settings.from_env(environment)
    scaled = dict(environment)
    for name, field in REAL_TIME_SETTINGS.items():
        if not hasattr(defaults, field):
            continue
        value = float(getattr(defaults, field)) / scale
        scaled[name] = str(max(1, round(value))) if name.endswith("_MS") else f"{value:.6f}"
    return scaled


class _Container(Forwarder):
    """A Forwarder that tells what each invocation did."""

    def __init__(self, settings: Settings, clock: ScaledClock, name: str, on_result: OnResult) -> None:
        super().__init__(settings, clock=clock.now)
        self._name = name
        self._on_result = on_result

    def forward(self, source: Source, event: Any, context: Any) -> Result:
        result = super().forward(source, event, context)
        self._on_result(self._name, result)
        return result


class Fleet:
    """Every container of the run; `install` points `runtime.forwarder` at the calling thread's."""

    def __init__(self, clock: ScaledClock, environments: Mapping[str, Mapping[str, str]], on_result: OnResult) -> None:
        self._clock = clock
        self._environments = {name: scaled_environment(env, clock.scale) for name, env in environments.items()}
        self._on_result = on_result
        self._local = threading.local()
        self._lock = threading.Lock()
        self.cold_starts: dict[str, int] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(runtime, "forwarder", self._current)

    def serving(self, mapping: str) -> None:
        """The calling thread is a container of `mapping`'s function from now on."""
        self._local.mapping = mapping

    def environment(self, mapping: str) -> dict[str, str]:
        return self._environments[mapping]

    def _current(self) -> Forwarder:
        forwarder: Forwarder | None = getattr(self._local, "forwarder", None)
        if forwarder is None:
            mapping: str = self._local.mapping
            settings = Settings.from_env(self._environments[mapping])
            forwarder = _Container(settings, self._clock, mapping, self._on_result)
            self._local.forwarder = forwarder
            with self._lock:
                self.cold_starts[mapping] = self.cold_starts.get(mapping, 0) + 1
        return forwarder
