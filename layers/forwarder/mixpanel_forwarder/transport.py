"""The HTTP seam: one method that POSTs a gzip body to /import and returns the answer.

Tests swap in any object with the same `send`; production uses one urllib3 keep-alive pool per container.
urllib3's timeouts bound each socket operation, not a request: a server that sends its answer a byte at a
time would hold a request for ever. So every request also has a watch that shuts its socket down when the
request's whole time (connect, send, headers and body) is up, and the blocked read returns at once.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Any, NamedTuple, Protocol

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.response import HTTPResponse

from .errors import ConnectionFailed, RequestTimeout, TransportError

USER_AGENT = "mixpanel-lambda-forwarder/0.1"


class Endpoint(NamedTuple):
    """Where and as whom one request is sent, and how its body is encoded (a destination builds it)."""

    url: str
    authorization: str  # the Authorization header; empty for none
    content_encoding: str | None = "gzip"

    def __repr__(self) -> str:  # never show the credentials
        return f"Endpoint(url={self.url!r})"


class Response(NamedTuple):
    status: int
    body: bytes
    retry_after: str | None = None


class Sender(Protocol):
    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        """POST one encoded JSON array within `timeout` seconds in all; raises RequestTimeout when no whole
        HTTP answer came in time, ConnectionFailed when the connection failed first."""
        ...


class Urllib3Sender:
    def __init__(self, pool_size: int, connect_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        # Certificates are always verified (urllib3's default, with the system's CA bundle); `block`
        # keeps the pool at one connection per concurrent request.
        self._pool = urllib3.PoolManager(num_pools=2, maxsize=pool_size, block=True, retries=False)
        # The same pools, with connections a request's watch can cut.
        self._pool.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if endpoint.authorization:  # none for /engage and /groups: the token is inside each update
            headers["Authorization"] = endpoint.authorization
        if endpoint.content_encoding:
            headers["Content-Encoding"] = endpoint.content_encoding
        with _Watch(timeout) as watch:
            try:
                answer = self._pool.request(
                    "POST",
                    endpoint.url,
                    body=body,
                    headers=headers,
                    timeout=urllib3.Timeout(connect=min(self._connect_timeout, timeout), read=timeout, total=timeout),
                    redirect=False,
                )
            except urllib3.exceptions.HTTPError as exc:
                if watch.expired:
                    raise RequestTimeout(f"no whole answer within {timeout:.3g} s ({type(exc).__name__})") from exc
                error: type[TransportError] = RequestTimeout if _timed_out(exc) else ConnectionFailed
                raise error(f"{type(exc).__name__}: {exc}") from exc
        return Response(answer.status, answer.data, answer.headers.get("Retry-After"))


def _timed_out(exc: urllib3.exceptions.HTTPError) -> bool:
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return not isinstance(exc, NewConnectionError)  # urllib3 files a refused connection under its timeouts
    # A send that timed out: ProtocolError("Connection aborted.", TimeoutError("timed out")).
    return any(isinstance(arg, TimeoutError) for arg in exc.args)


# --- the watch: a request's total time ----------------------------------------------------------------------

_lock = threading.Lock()  # guards which connection a watch may cut, so that it never cuts another request's
_current = threading.local()  # the watch of the request this thread is sending


class _Watch:
    """One request's time: when it is up, the socket of the connection sending it is shut down."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.expired = False
        self.ended = False
        self.connection: _Watched | None = None
        self.socket: Any = None  # the response's socket: http.client may hand it to the response and let go

    def __enter__(self) -> _Watch:
        _current.watch = self
        _watchdog.arm(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.watch = None
        with _lock:
            self.ended = True
            if self.connection is not None:
                self.connection.watch = None
            self.connection = self.socket = None

    def left(self) -> float:
        return self.ends - time.monotonic()

    def expire(self) -> None:
        with _lock:
            if not self.ended:
                self.expired = True
                self.cut()

    def cut(self) -> None:
        """Shuts the request's socket down, so that a read or write blocked on it returns; `_lock` is held."""
        for sock in (self.socket, self.connection.sock if self.connection is not None else None):
            if isinstance(sock, socket.socket):
                # The plain socket's shutdown even for TLS: SSLSocket.shutdown would also drop its SSL object
                # under the reading thread. A socket closed in between has no descriptor any more: OSError.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One thread expires every request's watch at its time (a timer thread per request would cost ~0.4 ms)."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Watch]] = []  # a heap, by when each watch ends
        self._order = itertools.count()  # ties never compare the watches themselves
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, watch: _Watch) -> None:
        with self._condition:
            due = self._due
            while due and due[0][2].ended:  # requests end in about the order they started: drop them here
                heapq.heappop(due)
            heapq.heappush(due, (watch.ends, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mixpanel-request-watchdog", daemon=True)
                self._thread.start()
            elif due[0][2] is watch:  # sooner than what the thread waits for
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                due, now, expired = self._due, time.monotonic(), []
                while due and (due[0][2].ended or due[0][0] <= now):
                    expired.append(heapq.heappop(due)[2])
                if not expired:
                    self._condition.wait(due[0][0] - now if due else None)
            for watch in expired:
                watch.expire()


_watchdog = _Watchdog()


class _Watched(HTTPConnection):
    """A connection that the watch of the request it is sending can cut (the TLS one derives from it too)."""

    watch: _Watch | None = None

    def connect(self) -> None:
        watch = self._attach()
        if watch is not None:  # no connect may outlast the request's time either
            left = max(watch.left(), 0.001)
            self.timeout = min(self.timeout, left) if isinstance(self.timeout, int | float) else left
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._attach()
        super().request(*args, **kwargs)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 itself
        watch = self.watch
        if watch is not None:
            with _lock:
                if watch.connection is self:
                    watch.socket = self.sock
        return super().getresponse()

    def _attach(self) -> _Watch | None:
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is None:
            return None
        with _lock:
            self.watch = watch
            watch.connection = self
            if watch.expired:
                watch.cut()
        return watch

    def detach(self) -> None:
        """Back to the pool: from now on the connection belongs to whichever request takes it next."""
        with _lock:
            watch, self.watch = self.watch, None
            if watch is not None and watch.connection is self:
                watch.connection = watch.socket = None


class _WatchedHTTPS(_Watched, HTTPSConnection):
    pass


def _release(conn: Any) -> None:
    if isinstance(conn, _Watched):
        conn.detach()


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _Watched

    def _put_conn(self, conn: Any) -> None:
        _release(conn)
        super()._put_conn(conn)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPS

    def _put_conn(self, conn: Any) -> None:
        _release(conn)
        super()._put_conn(conn)
