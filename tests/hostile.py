"""Hostile AWS endpoints on loopback, for tests: one that closes every connection, one that never answers,
and a slow or flaky proxy in front of moto's server that counts the calls it passes on.

Each is a context manager that starts a real server on 127.0.0.1 and stops it (and every connection it
holds) on exit, so a test cannot leave a hung socket behind.
"""

from __future__ import annotations

import random
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def tcp_endpoint(behaviour: str) -> Iterator[str]:
    """`close`: accept and close at once. `hang`: accept, read, never answer (until the test ends)."""
    assert behaviour in ("close", "hang")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if behaviour == "close":
                connection.close()
            else:
                held.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()


class SlowProxy:
    """Passes every request on to `upstream` after `delay` seconds, counting calls by AWS action.

    With `close_rate` / `hang_rate` (drawn from `seed`), a request is instead dropped: its connection is
    closed at once, or after `hang_seconds` of silence; nothing of it reaches the upstream. `first` names
    faults served before any random one, in order, so each kind is sure to come up; with `every`, one
    call in that many is dropped, closed and hung in turn.
    """

    def __init__(
        self,
        upstream: str,
        delay: float,
        close_rate: float,
        hang_rate: float,
        hang_seconds: float,
        seed: int,
        first: tuple[str, ...] = (),
        every: int = 0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self.close_rate = close_rate
        self.hang_rate = hang_rate
        self.hang_seconds = hang_seconds
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._first = list(first)
        self._every = every

    def count(self, action: str) -> str | None:
        """Counts the call; returns the fault to serve instead of passing it on, if one is drawn."""
        with self._lock:
            self.calls[action] += 1
            draw = self._rng.random()
            fault = "close" if draw < self.close_rate else "hang" if draw < self.close_rate + self.hang_rate else None
            if self._first:
                fault = self._first.pop(0)
            elif self._every and sum(self.calls.values()) % self._every == 0:
                fault = ("close", "hang")[sum(self.faults.values()) % 2]
            if fault is not None:
                self.faults[fault] += 1
            return fault


@contextmanager
def slow_proxy(
    upstream: str,
    delay: float = 0.0,
    *,
    close_rate: float = 0.0,
    hang_rate: float = 0.0,
    hang_seconds: float = 1.0,
    seed: int = 0,
    first: tuple[str, ...] = (),
    every: int = 0,
) -> Iterator[tuple[str, SlowProxy]]:
    proxy = SlowProxy(upstream, delay, close_rate, hang_rate, hang_seconds, seed, first, every)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target") or ""
            fault = proxy.count(target.rsplit(".", 1)[-1] or "unknown")
            if fault is not None:
                if fault == "hang":
                    proxy.closed.wait(proxy.hang_seconds)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # no answer at all: the client sees a dropped connection
                return
            time.sleep(proxy.delay)
            if proxy.closed.is_set():  # the test is over: nothing reaches moto's state for the next one
                self.send_error(503)
                return
            headers = {name: value for name, value in self.headers.items() if name.lower() not in ("host",)}
            request = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status, data, answer_headers = answer.status, answer.read(), answer.headers
            except urllib.error.HTTPError as error:
                status, data, answer_headers = error.code, error.read(), error.headers
            self.send_response(status)
            for name, value in answer_headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        proxy.closed.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
