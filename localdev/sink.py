"""An embedded Mixpanel-compatible /import sink: a real HTTP server on loopback that answers like Mixpanel,
keeps what it imported and can be scripted to fail, so tests, the demo and the benchmarks need no account.

Run it alone with `python -m localdev.sink [--port 8765] [--max-bytes N]`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import dataclasses
import gzip
import hmac
import json
import math
import random
import re
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

from localdev import faults


def _stdlib_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


_loads: Callable[[bytes], Any]
_dumps: Callable[[Any], bytes]
try:  # orjson is several times faster on 2000-event batches; the stdlib is enough without it
    import orjson

    _loads = orjson.loads
    _dumps = orjson.dumps
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads
    _dumps = _stdlib_dumps

JsonObject = dict[str, Any]

_MIN_TIME_MS = 31_536_000_000  # 1971-01-01T00:00:00Z
_MAX_FUTURE_S = 3600.0
_MS_THRESHOLD = 1e11  # a `time` at or above this is in milliseconds (1e11 s is the year 5138)
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
# Mixpanel refuses these as $insert_id or distinct_id, compared case-insensitively.
_PLACEHOLDERS = frozenset(
    "00000000-0000-0000-0000-000000000000 anon anonymous nil none null n/a na undefined unknown <nil> 0 -1 true false"  # noqa: SIM905
    " [] {}".split()
)
_CLI_DESCRIPTION = "Serve a Mixpanel-compatible /import sink on 127.0.0.1 until Ctrl-C."
_JOIN_TIMEOUT_S = 2.0  # how long stop() waits for handler threads once their sockets are shut
_REJECT_MESSAGE = "rejected by the sink's fault script"
_PROXY_HTML = "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>\n"


@dataclasses.dataclass(frozen=True, slots=True)
class RequestLog:
    """What one POST /import received and how it was answered; `status` is 0 when the connection was reset."""

    status: int
    events: int
    imported: int
    failed: int
    gzip: bool
    bytes_raw: int
    fault: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Fault:
    kind: Literal["fail", "hang", "reset", "reject", "drip", "portal", "miscount"]
    status: int = 0
    body: bytes | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    drip: faults.Drip | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Rates:
    rng: random.Random
    rate_429: float
    rate_5xx: float
    rate_hang: float
    rate_reset: float
    rate_413: float
    rate_drip: float
    rate_unconfirmed: float
    hang_seconds: float
    drip_seconds: float


@dataclasses.dataclass(frozen=True, slots=True)
class _Answer:
    """What the handler must do: answer `status`, or first hang `seconds`, or reset the connection."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    hang_seconds: float = 0.0
    reset: bool = False
    drip: faults.Drip | None = None  # Mixpanel's real answer (the import happens), sent one byte at a time


@dataclasses.dataclass(frozen=True, slots=True)
class _Body:
    """A decoded request body: `events` is None when it could not be read, and `error` then says why."""

    raw_bytes: int
    too_large: bool
    events: list[Any] | None
    error: str | None


class _Invalid(ValueError):
    """One event fails a strict-mode check: `field` and `message` go into failed_records."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _json_answer(status: int, payload: JsonObject, headers: tuple[tuple[str, str], ...] = ()) -> _Answer:
    return _Answer(status, _dumps(payload), headers=headers)


def _error(status: int, message: str, status_field: object | None = None) -> _Answer:
    status_value = _reason(status) if status_field is None else status_field
    return _json_answer(status, {"code": status, "error": message, "status": status_value})


def _html(status: int) -> _Answer:
    body = _PROXY_HTML.format(code=status, reason=_reason(status)).encode()
    return _Answer(status, body, content_type="text/html; charset=utf-8")


def _is_placeholder(value: object) -> bool:
    if isinstance(value, str):
        return value.lower() in _PLACEHOLDERS
    if value is None or isinstance(value, bool | int | float | list | dict):
        # Mixpanel stringifies ids: 0, -1, true, false, null, [] and {} are the same placeholders.
        return _stdlib_dumps(value).decode().lower() in _PLACEHOLDERS
    return False


def _failure(index: int, insert_id: object, field: str, message: str) -> JsonObject:
    return {
        "index": index,
        "$insert_id": insert_id if isinstance(insert_id, str) else "",
        "field": field,
        "message": message,
    }


def _validate(index: int, event: object, now: float) -> tuple[JsonObject | None, tuple[object, ...] | None]:
    """(its failed_records entry, None) for an invalid event, (None, its dedup key) for a valid one."""
    try:
        return None, _dedup_key(event, now)
    except _Invalid as invalid:
        return _failure(index, _insert_id(event), invalid.field, invalid.message), None


def _dedup_key(event: object, now: float) -> tuple[object, ...]:
    """Mixpanel's strict-mode checks, in the order it reports them; raises _Invalid on the first failure."""
    if not isinstance(event, dict):
        raise _Invalid("event", "each event must be a JSON object")
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise _Invalid("event", "'event' must be a non-empty string")
    properties = event.get("properties")
    if not isinstance(properties, dict):
        raise _Invalid("properties", "'properties' must be a JSON object")

    raw_time = properties.get("time")
    if raw_time is None:
        raise _Invalid("properties.time", "'properties.time' is required")
    if isinstance(raw_time, bool) or not isinstance(raw_time, int | float) or not math.isfinite(raw_time):
        raise _Invalid("properties.time", "'properties.time' must be a number of seconds or milliseconds since epoch")
    time_ms = round(raw_time) if raw_time >= _MS_THRESHOLD else round(raw_time * 1000)
    if time_ms < _MIN_TIME_MS:
        raise _Invalid("properties.time", "'properties.time' is before 1971-01-01")
    if time_ms > (now + _MAX_FUTURE_S) * 1000:
        raise _Invalid("properties.time", "'properties.time' is more than 1 hour in the future")

    insert_id = properties.get("$insert_id")
    if insert_id is None:
        raise _Invalid("properties.$insert_id", "'properties.$insert_id' is required")
    if not isinstance(insert_id, str) or not _INSERT_ID.fullmatch(insert_id):
        raise _Invalid("properties.$insert_id", "'properties.$insert_id' must be 1-36 characters of [A-Za-z0-9-]")
    if _is_placeholder(insert_id):
        raise _Invalid("properties.$insert_id", "'properties.$insert_id' is a placeholder value")

    distinct_id = properties.get("distinct_id")
    if "distinct_id" in properties and _is_placeholder(distinct_id):
        raise _Invalid("properties.distinct_id", "'properties.distinct_id' is a placeholder value")
    if distinct_id is not None and not isinstance(distinct_id, str):
        distinct_id = _stdlib_dumps(distinct_id).decode()  # Mixpanel compares ids as strings
    return name, time_ms, distinct_id, insert_id


def _parse(raw: bytes, content_type: str) -> list[Any]:
    """A JSON array, or NDJSON (one object per line, blank lines skipped); ValueError when unreadable."""
    if "ndjson" in content_type.lower():
        return [_loads(line) for line in raw.splitlines() if line.strip()]
    events = _loads(raw)
    if not isinstance(events, list):
        raise ValueError("the body must be a JSON array of events")
    return events


def _decode_body(body: bytes, content_encoding: str, content_type: str, max_bytes: int) -> _Body:
    raw = body
    if content_encoding.strip().lower() == "gzip":
        try:
            raw = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return _Body(0, False, None, "unable to decompress body")
    too_large = len(raw) > max_bytes
    try:
        events = _parse(raw, content_type)
    except (ValueError, RecursionError):
        return _Body(len(raw), too_large, None, "unable to parse the body as JSON or NDJSON events")
    return _Body(len(raw), too_large, events, None)


class MixpanelSink:
    """A loopback stand-in for Mixpanel's /import: strict validation, dedup, limits and scripted faults.

    Thread-safe: handlers run in daemon threads and every shared structure is guarded by one lock.
    """

    def __init__(
        self,
        *,
        username: str = "sink-user",
        secret: str = "sink-secret",  # noqa: S107 - a local dummy
        project_id: str = "4242",
        token: str | None = "sink-token",  # noqa: S107 - a local dummy
        max_events: int = 2000,
        max_bytes: int = 2 * 1024 * 1024,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._username = username
        self._secret = secret
        self._project_id = project_id
        self._token = token
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._host = host
        self._port = port
        self._clock = clock

        self._lock = threading.Lock()
        self._events: list[JsonObject] = []
        self._keys: set[tuple[object, ...]] = set()
        self._requests: list[RequestLog] = []
        self._duplicates = 0
        self._faults: collections.deque[_Fault] = collections.deque()
        self._rates: _Rates | None = None

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: dict[socket.socket, threading.Thread] = {}

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> MixpanelSink:
        """Serve in a background thread. After stop() it may start again, on the same port."""
        if self._server is not None:
            raise RuntimeError("the sink is already running")
        self._stopping.clear()
        server = _Server((self._host, self._port), self)
        self._port = server.server_address[1]  # a restart keeps the URL the forwarder was given
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="mixpanel-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and every open connection, and wake handlers that hang."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()  # wakes hanging handlers; set before the snapshot so late connections close themselves
        server.shutdown()
        server.server_close()
        thread.join()
        with self._lock:
            connections = list(self._connections.items())
        for connection, _ in connections:
            _shut(connection)
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        for _, handler in connections:
            handler.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._thread = None

    def __enter__(self) -> MixpanelSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash or /import, as MIXPANEL_API_URL expects it."""
        if self._server is None:
            raise RuntimeError("the sink is not running: call start() first")
        return f"http://{self._host}:{self._port}"

    def env(self) -> dict[str, str]:
        """The forwarder's environment variables pointing at this sink with service-account auth."""
        return {
            "MIXPANEL_API_URL": self.url,
            "MIXPANEL_PROJECT_ID": self._project_id,
            "MIXPANEL_SERVICE_ACCOUNT_USERNAME": self._username,
            "MIXPANEL_SERVICE_ACCOUNT_SECRET": self._secret,
        }

    # --- what was received -----------------------------------------------------------------------------

    @property
    def events(self) -> list[JsonObject]:
        """Imported events after dedup, in import order (a new list; the events themselves are shared)."""
        with self._lock:
            return list(self._events)

    @property
    def requests(self) -> list[RequestLog]:
        """One entry per POST /import received, in the order they were answered."""
        with self._lock:
            return list(self._requests)

    @property
    def duplicates(self) -> int:
        """Events received again with a dedup key already imported: counted as imported, not stored twice."""
        with self._lock:
            return self._duplicates

    def clear(self) -> None:
        """Forget events, requests, duplicates and pending scripted faults (random fault rates stay set)."""
        with self._lock:
            self._events.clear()
            self._keys.clear()
            self._requests.clear()
            self._duplicates = 0
            self._faults.clear()

    def stats(self) -> JsonObject:
        """The counters GET /stats answers with."""
        with self._lock:
            by_status = collections.Counter(str(r.status) for r in self._requests)
            return {
                "imported": len(self._events),
                "duplicates": self._duplicates,
                "requests": len(self._requests),
                "by_status": dict(sorted(by_status.items())),
            }

    # --- faults ----------------------------------------------------------------------------------------

    def fail_next(
        self, status: int, count: int = 1, *, body: bytes | None = None, retry_after: str | None = None
    ) -> None:
        """Answer the next `count` imports with `status` (and `body`, `Retry-After` when given), importing nothing."""
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {status}")
        self._script(_Fault("fail", status=status, body=body, retry_after=retry_after), count)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        """Read the next `count` imports, then wait `seconds` (cut short by stop()) before answering 503."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._script(_Fault("hang", seconds=seconds), count)

    def reset_next(self, count: int = 1) -> None:
        """Read the next `count` imports, then reset the TCP connection without answering."""
        self._script(_Fault("reset"), count)

    def reject_next(self, count: int = 1) -> None:
        """Refuse the first event of the next `count` authenticated, readable imports that carry events (400)."""
        self._script(_Fault("reject"), count)

    def drip_next(self, interval: float, count: int = 1, *, headers: bool = False) -> None:
        """Import the next `count` requests as usual but send each answer one byte every `interval` seconds: the
        body, or with `headers` the status line and headers too (stop() cuts it short)."""
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self._script(_Fault("drip", drip=faults.Drip(interval, headers)), count)

    def unconfirmed_next(self, count: int = 1, *, miscount: bool = False) -> None:
        """Answer the next `count` imports 200 without importing: a captive portal's HTML page, or with `miscount`
        Mixpanel's JSON with a num_records_imported that is not the number of events sent."""
        self._script(_Fault("miscount" if miscount else "portal"), count)

    def set_fault_rates(
        self,
        *,
        seed: int,
        rate_429: float = 0,
        rate_5xx: float = 0,
        rate_hang: float = 0,
        hang_seconds: float = 1.0,
        rate_reset: float = 0,
        rate_413: float = 0,
        rate_drip: float = 0,
        drip_seconds: float = 0.5,
        rate_unconfirmed: float = 0,
    ) -> None:
        """Fail imports at random, reproducibly for a given seed, when no scripted fault is pending. A drip drips
        the body or the headers, an unconfirmed 200 is a portal's page or a miscount, each half the time."""
        rates = (rate_429, rate_5xx, rate_hang, rate_reset, rate_413, rate_drip, rate_unconfirmed)
        if any(not 0 <= rate <= 1 for rate in rates) or sum(rates) > 1 or drip_seconds <= 0:
            raise ValueError(f"fault rates must each be within [0, 1] and add up to at most 1, got {rates}")
        configured = _Rates(random.Random(seed), *rates, hang_seconds, drip_seconds)
        with self._lock:
            self._rates = configured if sum(rates) > 0 else None

    def _script(self, fault: _Fault, count: int) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        with self._lock:
            self._faults.extend([fault] * count)

    def _take_fault(self, events: int) -> tuple[_Answer, str] | None:
        """The scripted fault at the head of the queue (a reject waits for its request), else a random one."""
        with self._lock:
            if self._faults:
                if self._faults[0].kind == "reject":
                    return None
                fault = self._faults.popleft()
                if fault.kind == "hang":
                    return _Answer(503, hang_seconds=fault.seconds), "hang"
                if fault.kind == "reset":
                    return _Answer(0, reset=True), "reset"
                if fault.drip is not None:
                    return _Answer(200, drip=fault.drip), fault.drip.kind
                if fault.kind in ("portal", "miscount"):
                    return _unconfirmed(fault.kind == "miscount", events)
                return self._fail_answer(fault), f"fail:{fault.status}"
            rates = self._rates
            if rates is None:
                return None
            draw = rates.rng.random()
            if draw < (edge := rates.rate_429):
                message = "Project exceeded rate limits. Please retry the request with exponential backoff."
                return _error(429, message), "random:429"
            if draw < (edge := edge + rates.rate_5xx):
                status = rates.rng.choice((502, 503))
                return _html(status), f"random:{status}"
            if draw < (edge := edge + rates.rate_hang):
                return _Answer(503, hang_seconds=rates.hang_seconds), "random:hang"
            if draw < (edge := edge + rates.rate_reset):
                return _Answer(0, reset=True), "random:reset"
            if draw < (edge := edge + rates.rate_413):
                return self._too_large(), "random:413"
            if draw < (edge := edge + rates.rate_drip):
                pace = faults.Drip(rates.drip_seconds, headers=rates.rng.random() < 0.5)
                return _Answer(200, drip=pace), "random:" + pace.kind
            if draw < edge + rates.rate_unconfirmed:
                answer, kind = _unconfirmed(rates.rng.random() < 0.5, events)
                return answer, "random:" + kind
            return None

    @staticmethod
    def _fail_answer(fault: _Fault) -> _Answer:
        headers = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
        if fault.body is None:
            answer = _error(fault.status, "fault injected by the sink")
            return dataclasses.replace(answer, headers=headers)
        try:
            json.loads(fault.body)
            content_type = "application/json"
        except ValueError:
            content_type = "text/html; charset=utf-8"
        return _Answer(fault.status, fault.body, content_type=content_type, headers=headers)

    def _too_large(self) -> _Answer:
        return _error(413, f"request exceeds max limit of {self._max_bytes} bytes", "Payload Too Large")

    # --- /import ---------------------------------------------------------------------------------------

    def _authorized(self, authorization: str, project_id: str | None) -> bool:
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not colon:
            return False
        if self._token is not None and not password and hmac.compare_digest(user.encode(), self._token.encode()):
            return True
        return (
            hmac.compare_digest(user.encode(), self._username.encode())
            and hmac.compare_digest(password.encode(), self._secret.encode())
            and project_id == self._project_id
        )

    def _import(self, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> _Answer:
        """Answer one POST /import like Mixpanel, after any scripted or random fault, and log it."""
        gzipped = headers.get("content-encoding", "").strip().lower() == "gzip"
        decoded = _decode_body(
            body, headers.get("content-encoding", ""), headers.get("content-type", ""), self._max_bytes
        )
        count = len(decoded.events) if decoded.events is not None else 0
        log = RequestLog(0, count, 0, 0, gzipped, decoded.raw_bytes, None)

        faulted = self._take_fault(count)
        if faulted is not None:
            answer, kind = faulted
            if answer.drip is None:
                return self._log(dataclasses.replace(log, fault=kind), answer)
            # A drip is Mixpanel's own answer, only slow: the import below is real.
            slow = self._answer(query, headers, decoded, dataclasses.replace(log, fault=kind))
            return dataclasses.replace(slow, drip=answer.drip)
        return self._answer(query, headers, decoded, log)

    def _answer(self, query: dict[str, list[str]], headers: dict[str, str], decoded: _Body, log: RequestLog) -> _Answer:
        """Mixpanel's own answer: auth, limits, strict validation and dedup."""
        count = log.events
        project_id = _param(query, "project_id")
        if not self._authorized(headers.get("authorization", ""), project_id):
            return self._log(log, _error(401, "Invalid credentials", 0))
        if decoded.too_large:
            return self._log(log, self._too_large())
        if decoded.events is None:  # a corrupt gzip body lands here too: it is never too large
            return self._log(log, _error(400, decoded.error or "unable to read the body"))
        if count > self._max_events:
            return self._log(log, _error(400, "too many events"))

        now = self._clock()
        checked = [_validate(index, event, now) for index, event in enumerate(decoded.events)]
        strict = _param(query, "strict") == "1"
        with self._lock:
            fault: str | None = None
            if count and log.fault is None and self._faults and self._faults[0].kind == "reject":
                self._faults.popleft()
                fault = "reject"
                checked[0] = (_failure(0, _insert_id(decoded.events[0]), "properties.forced", _REJECT_MESSAGE), None)
            failed = [entry for entry, _ in checked if entry is not None]
            imported = 0
            for event, (_, key) in zip(decoded.events, checked, strict=True):
                if key is None:
                    continue
                imported += 1
                if key in self._keys:
                    self._duplicates += 1
                else:
                    self._keys.add(key)
                    self._events.append(event)
            if failed and (strict or fault):
                payload = {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "failed_records": failed,
                    "num_records_imported": imported,
                    "status": "Bad Request",
                }
                answer = _json_answer(400, payload)
            else:  # non-strict: invalid events are dropped without a word, like Mixpanel does
                answer = _json_answer(200, {"code": 200, "num_records_imported": imported, "status": "OK"})
            fault = fault or log.fault
            entry = dataclasses.replace(log, status=answer.status, imported=imported, failed=len(failed), fault=fault)
            self._requests.append(entry)
        return answer

    def _log(self, entry: RequestLog, answer: _Answer) -> _Answer:
        with self._lock:
            self._requests.append(dataclasses.replace(entry, status=answer.status))
        return answer

    # --- connections -----------------------------------------------------------------------------------

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections[connection] = threading.current_thread()
            stopping = self._stopping.is_set()
        if stopping:  # accepted while stop() ran: it will not see this one
            _shut(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.pop(connection, None)


def _unconfirmed(miscount: bool, events: int) -> tuple[_Answer, str]:
    body, content_type, kind = faults.unconfirmed(miscount, events)
    return _Answer(200, body, content_type), kind


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _insert_id(event: object) -> object:
    properties = event.get("properties") if isinstance(event, dict) else None
    return properties.get("$insert_id") if isinstance(properties, dict) else None


def _shut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its handler
        connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() shuts connections itself and joins their threads with a bound

    def __init__(self, address: tuple[str, int], sink: MixpanelSink) -> None:
        self.sink = sink
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away (its timeout, a harness reset) is routine; anything else is a bug worth a trace."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """HTTP mechanics only: framing, keep-alive, hangs and resets; MixpanelSink decides the answers."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the forwarder's connection pool expects
    server_version = "MixpanelSink/1.0"

    @property
    def sink(self) -> MixpanelSink:
        return cast(_Server, self.server).sink

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle and delayed ACKs add 40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sink._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.sink._closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and benchmarks must not pay for, or drown in, one log line per request."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/events":
            self._send(_Answer(200, _dumps(self.sink.events)))
        elif path == "/stats":
            self._send(_json_answer(200, self.sink.stats()))
        else:
            self._send(_error(404, "not found"))

    def do_POST(self) -> None:
        try:
            body = self._read_body()
        except ValueError:  # a bad Content-Length or chunk size too
            self.close_connection = True
            self._send(_error(400, "malformed request framing"))
            return
        parts = urlsplit(self.path)
        if parts.path != "/import":
            self._send(_error(404, "not found"))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.sink._import(parse_qs(parts.query, keep_blank_values=True), headers, body)
        if answer.reset:
            self._reset()
            return
        if answer.drip is not None:
            self._drip(answer, answer.drip)
            return
        if answer.hang_seconds > 0:
            self.sink._stopping.wait(answer.hang_seconds)
            answer = _html(answer.status)
        self._send(answer)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        size = int(length)
        if size < 0:
            raise ValueError("negative Content-Length")
        body = self.rfile.read(size)
        if len(body) != size:
            raise ValueError("the body ended early")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65537).strip():  # trailers, up to the empty line
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _reset(self) -> None:
        """Close without answering, with SO_LINGER 0 so the client sees an RST rather than a clean FIN."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # stop() already shut it
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the socket closes for real only once its makefile() reader is closed
        self.connection.close()

    def _drip(self, answer: _Answer, pace: faults.Drip) -> None:
        sent = [("Server", self.version_string()), ("Date", self.date_time_string())]
        sent += [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body))), *answer.headers]
        head = faults.response_head(answer.status, _reason(answer.status), sent)
        if not faults.drip(self.wfile.write, head, answer.body, pace, self.sink._stopping):
            self.close_connection = True

    def _send(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:  # the client went away (timed out, or stop() shut the socket)
            self.close_connection = True


def _main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localdev.sink", description=_CLI_DESCRIPTION)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765, 0 for any)")
    parser.add_argument("--max-bytes", type=int, default=2 * 1024 * 1024, help="uncompressed body cap (413 above)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    sink = MixpanelSink(port=args.port, max_bytes=args.max_bytes).start()
    print(f"Mixpanel sink listening on {sink.url}  (GET {sink.url}/events, {sink.url}/stats)")
    print("Point the forwarder at it:")
    for name, value in sink.env().items():
        print(f"  export {name}={value}")
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
        print(f"\nstopped: {json.dumps(sink.stats())}")


if __name__ == "__main__":
    _main()
