"""moto's server in this process, on the scaled clock (clock.py).

The clock: moto reads time through `moto.core.utils.utcnow`, `unix_time` and `unix_time_millis`, which its models
import by name; each of those names, in every moto module loaded, is pointed at the scaled clock. Within one request
the time is read once (a request is answered at one instant, and moto's SQS reads the time per message, so a queue
of thousands costs thousands of clock reads per ReceiveMessage otherwise). test_harness.py shows that visibility,
retention, send, first-receive and Kinesis arrival times all follow it.

Where moto departs from SQS's documented behaviour in ways an outage of hours meets, and where it is too slow for a
backlog of tens of thousands, moto_fixes.py patches it (undone on stop). Requests are answered one at a time, as
atomic operations: moto's backends are not thread-safe.
"""

from __future__ import annotations

import datetime
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import moto.core.utils
import moto.kinesis.models
import moto.s3.models
import moto.s3.notifications
import moto.sqs.models
from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from tests.e2e.outage.clock import ScaledClock
from tests.e2e.outage.moto_fixes import Patches, patch_kinesis, patch_sqs
from tests.moto import reset

_TIME_NAMES = ("utcnow", "unix_time", "unix_time_millis")


class _Now:
    """The scaled time, read once per request while one is answered."""

    def __init__(self, clock: ScaledClock) -> None:
        self.clock = clock
        self.frozen: float | None = None

    def seconds(self) -> float:
        return self.frozen if self.frozen is not None else self.clock.now()


@dataclass
class MotoScaled:
    """The running server: its URL, its clock, and the SQS messages deleted by retention (queue name, message id)."""

    url: str
    clock: ScaledClock
    expired: list[tuple[str, str]] = field(default_factory=list)


class _Serial:
    """The WSGI app, one request at a time, each at one instant of the scaled clock."""

    def __init__(self, app: Any, now: _Now) -> None:
        self._app = app
        self._now = now
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            self._now.frozen = self._now.clock.now()
            try:
                return list(self._app(environ, start_response))
            finally:
                self._now.frozen = None


class _Quiet(MotoRequestHandler):
    """No line per request on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _time_functions(now: _Now) -> dict[str, Callable[..., Any]]:
    original_unix_time = moto.core.utils.unix_time

    def utcnow() -> datetime.datetime:
        return datetime.datetime.fromtimestamp(now.seconds(), datetime.UTC).replace(tzinfo=None)

    def unix_time(dt: datetime.datetime | None = None) -> float:
        return now.seconds() if dt is None else float(original_unix_time(dt))

    def unix_time_millis(dt: datetime.datetime | None = None) -> float:
        return unix_time(dt) * 1000.0

    return {"utcnow": utcnow, "unix_time": unix_time, "unix_time_millis": unix_time_millis}


def _patch_time(patches: Patches, now: _Now) -> None:
    """Every moto module's own name for each time function, pointed at the scaled one."""
    originals = {name: getattr(moto.core.utils, name) for name in _TIME_NAMES}
    scaled = _time_functions(now)
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "moto" or module_name.startswith("moto.")):
            continue
        for name, original in originals.items():
            if getattr(module, name, None) is original:
                patches.set(module, name, scaled[name])


@contextmanager
def scaled_moto(clock: ScaledClock) -> Iterator[MotoScaled]:
    """moto's server on loopback, on `clock`, with the SQS fixes above; everything put back on exit."""
    now = _Now(clock)
    patches = Patches()
    server = None
    try:
        _patch_time(patches, now)
        running = MotoScaled("", clock)
        patch_sqs(patches, running.expired)
        patch_kinesis(patches)
        app = _Serial(DomainDispatcherApplication(create_backend_app), now)
        server = make_server("127.0.0.1", 0, app, True, request_handler=_Quiet)
        running.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, name="moto-scaled", daemon=True)
        thread.start()
        reset(running.url)  # moto's backends live in the process: nothing from an earlier run
        yield running
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        patches.undo()
