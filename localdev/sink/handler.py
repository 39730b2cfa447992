"""The sink's HTTP mechanics: framing, keep-alive, and how an answer goes out (at once, after a hang or a hold,
dripped, or as a reset). What to answer is the App's to decide."""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from .answers import Answer, Drip, error, html, reason
from .flight import Flight

_HOLD_POLL_S = 0.02  # how often a held request reads the sink's clock, which may be a test's fake or a scaled one


class App(Protocol):
    """What answers requests: the handler hands it the path, the query, lower-cased headers and the body, each
    request in `flight` from the moment it is read until its answer is out."""

    flight: Flight

    def get(self, path: str) -> Answer: ...

    def post(self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> Answer: ...


class Host(Protocol):
    """What runs the handlers: the app, an event set when it stops (it wakes hangs and drips), and connections."""

    app: App
    stopping: threading.Event

    def opened(self, connection: socket.socket) -> None: ...

    def closed(self, connection: socket.socket) -> None: ...


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # the host shuts connections itself and joins their threads with a bound

    def __init__(self, address: tuple[str, int], host: Host) -> None:
        self.host = host
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away (its timeout, a harness reset) is routine; anything else is a bug worth a trace."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """HTTP mechanics only: framing, keep-alive, hangs and resets; the app decides the answers."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the forwarder's connection pool expects
    server_version = "MixpanelSink/1.0"

    @property
    def host(self) -> Host:
        return cast(HTTPServer, self.server).host

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle and delayed ACKs add 40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.host.closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and benchmarks must not pay for, or drown in, one log line per request."""

    def do_GET(self) -> None:
        self._send(self.host.app.get(urlsplit(self.path).path))

    def do_POST(self) -> None:
        try:
            body = self._read_body()
        except ValueError:  # a bad Content-Length or chunk size too
            self.close_connection = True
            self._send(error(400, "malformed request framing"))
            return
        parts = urlsplit(self.path)
        with self.host.app.flight.request(parts.path, self.host.stopping):
            self._answer(parts.path, parts.query, body)

    def _answer(self, path: str, query: str, body: bytes) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.host.app.post(path, parse_qs(query, keep_blank_values=True), headers, body)
        if answer.reset:
            self._reset()
            return
        if answer.drip is not None:
            self._drip(answer, answer.drip)
            return
        if answer.hang_seconds > 0:
            self.host.stopping.wait(answer.hang_seconds)
            answer = html(answer.status)
        elif answer.hold is not None:
            while not answer.hold() and not self.host.stopping.wait(_HOLD_POLL_S):
                pass
            answer = html(answer.status)
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

    def _drip(self, answer: Answer, pace: Drip) -> None:
        sent = [("Server", self.version_string()), ("Date", self.date_time_string())]
        sent += [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body))), *answer.headers]
        head = _response_head(answer.status, reason(answer.status), sent)
        if not _drip(self.wfile.write, head, answer.body, pace, self.host.stopping):
            self.close_connection = True

    def _send(self, answer: Answer) -> None:
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


def _response_head(status: int, phrase: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {phrase}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _drip(write: Callable[[bytes], object], head: bytes, body: bytes, pace: Drip, stopping: threading.Event) -> bool:
    """Sends an answer at the drip's pace; False when the sink stops or the client goes away before the end."""
    slow = head + body if pace.headers else body
    try:
        if not pace.headers:
            write(head)
        for position in range(len(slow)):
            if stopping.wait(pace.interval):
                return False
            write(slow[position : position + 1])
    except OSError:  # the client gave up (its timeout) and closed the connection
        return False
    return True
