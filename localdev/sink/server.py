"""A threaded HTTP server on loopback for the sink: serves in a background thread, and stops for real (open
connections shut, hanging and dripping handlers woken, their threads joined with a bound)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from .handler import App, HTTPServer

_JOIN_TIMEOUT_S = 2.0  # how long stop() waits for handler threads once their sockets are shut


class LoopbackServer:
    """Serves `app` on `host`:`port` (0 for any free port) from start() until stop()."""

    def __init__(self, app: App, host: str, port: int) -> None:
        self.app = app
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._server = HTTPServer((host, port), self)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="mixpanel-sink", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and every open connection, and wake handlers that hang."""
        self.stopping.set()  # wakes hanging handlers; set before the snapshot so late connections close themselves
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with self._lock:
            connections = list(self._connections.items())
        for connection, _ in connections:
            _shut(connection)
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        for _, handler in connections:
            handler.join(max(0.0, deadline - time.monotonic()))

    def opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections[connection] = threading.current_thread()
            stopping = self.stopping.is_set()
        if stopping:  # accepted while stop() ran: it will not see this one
            _shut(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.pop(connection, None)


def _shut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its handler
        connection.shutdown(socket.SHUT_RDWR)
