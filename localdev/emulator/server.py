"""The Lambda Invoke API on loopback, in front of one warm emulator per function, like `sam local start-lambda`:
`POST /2015-03-31/functions/{name}/invocations` with the AWS CLI's or any SDK's request (boto3's Lambda client with
`endpoint_url`), for RequestResponse, Event (answered 202, run in the background) and DryRun invocations.
"""

from __future__ import annotations

import errno
import re
import threading
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import answers
from .errors import LocalRunError
from .process import Emulator

INVOKE = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations")
# A name as SDKs send it: Name, Name:$LATEST, or the function's ARN with or without the qualifier.
ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[^:]+)(?::.*)?")


class InvokeFront:
    """Serves `emulators` (by function name) on host:port from start() until stop()."""

    def __init__(self, emulators: Mapping[str, Emulator], host: str = "127.0.0.1", port: int = 3001) -> None:
        self.emulators = dict(emulators)
        try:
            self._server = _Server((host, port), _Handler, self)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LocalRunError(
                    f"port {port} on {host} is in use: stop what listens there or choose another "
                    "(make start-lambda PORT=...)"
                ) from None
            raise LocalRunError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another address") from None
        self.host, self.port = host, int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> InvokeFront:
        self._thread = threading.Thread(target=self.serve_forever, name="invoke-front", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def reply(self, path: str, headers: Mapping[str, str], payload: bytes) -> answers.Reply:
        """Lambda's answer to one request (the routing and checks of the Invoke API, then the function); `headers`
        by lower-case name."""
        url = urlsplit(path)
        route = INVOKE.fullmatch(url.path)
        if route is None:
            return answers.service_error("ResourceNotFoundException", 404, f"no such Lambda API path: {url.path}")
        name = _function_name(unquote(route["name"]))
        qualifier = parse_qs(url.query).get("Qualifier", ["$LATEST"])[0]
        emulator = self.emulators.get(name)
        if emulator is None or qualifier != "$LATEST":
            return answers.function_not_found(f"{name}:{qualifier}" if qualifier != "$LATEST" else name)
        if len(payload) > answers.MAX_PAYLOAD_BYTES:
            return answers.payload_too_large(len(payload))
        payload = payload or b"{}"
        problem = answers.payload_problem(payload)
        if problem is not None:
            return answers.payload_not_json(problem)
        kind = headers.get("x-amz-invocation-type", "RequestResponse")
        if kind == "DryRun":
            return answers.Reply(HTTPStatus.NO_CONTENT)
        if kind == "Event":
            threading.Thread(target=emulator.invoke, args=(payload,), daemon=True).start()
            return answers.Reply(HTTPStatus.ACCEPTED, headers={"x-amzn-RequestId": str(uuid.uuid4())})
        if kind != "RequestResponse":
            return answers.service_error("InvalidParameterValueException", 400, f"unknown InvocationType {kind}")
        try:
            outcome = emulator.invoke(payload)
        except LocalRunError as exc:
            return answers.service_error("ServiceException", 500, str(exc))
        tail = headers.get("x-amz-log-type") == "Tail"
        return answers.function_reply(outcome, emulator.log_of(outcome.request_id) if tail else None)


def _function_name(name: str) -> str:
    arn = ARN.fullmatch(name)
    if arn is not None:
        return arn["name"]
    return name.removesuffix(":$LATEST")


def _unreadable(length: str | None, transfer_encoding: str | None) -> answers.Reply | None:
    """Lambda's answer to a request whose body is not to be read: a length that is no number, a chunked body (SDKs
    and the AWS CLI send a length; without one the body would be taken as empty, and the function invoked with
    `{}`), or more than Lambda takes, answered before reading what could exhaust memory."""
    if transfer_encoding is not None and transfer_encoding.strip().lower() != "identity":
        return answers.service_error(
            "InvalidRequestContentException",
            400,
            f"Transfer-Encoding {transfer_encoding} is not read: send a Content-Length",
        )
    if length is None:
        return None
    if not length.strip().isascii() or not length.strip().isdigit():
        return answers.service_error("InvalidRequestContentException", 400, f"Content-Length {length!r} is no length")
    if int(length) > answers.MAX_PAYLOAD_BYTES:
        return answers.payload_too_large(int(length))
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, front: InvokeFront) -> None:
        self.front = front
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # SDKs keep the connection open between invocations

    def do_POST(self) -> None:
        refused = _unreadable(self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding"))
        if refused is not None:  # the body is not read (too large to hold, or no length): the connection is closed
            self.close_connection = True
            self._send(refused)
            return
        payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(
            self.server.front.reply(self.path, {name.lower(): value for name, value in self.headers.items()}, payload)
        )

    def do_GET(self) -> None:
        self._send(answers.service_error("ResourceNotFoundException", 404, f"no such Lambda API path: {self.path}"))

    def _send(self, reply: answers.Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator's START/REPORT lines already say what ran."""
