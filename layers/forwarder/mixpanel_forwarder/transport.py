"""The HTTP seam: one method that POSTs a gzip body to /import and returns the answer.

Tests swap in any object with the same `send`; production uses one urllib3 keep-alive pool per container.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import urllib3

from .credentials import Endpoint
from .errors import TransportError

USER_AGENT = "mixpanel-lambda-forwarder/0.1"


class Response(NamedTuple):
    status: int
    body: bytes
    retry_after: str | None = None


class Sender(Protocol):
    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        """POST one gzip-compressed JSON array; raises TransportError when no HTTP answer came in time."""
        ...


class Urllib3Sender:
    def __init__(self, pool_size: int, connect_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        # Certificates are always verified (urllib3's default, with the system's CA bundle); `block`
        # keeps the pool at one connection per concurrent request.
        self._pool = urllib3.PoolManager(num_pools=2, maxsize=pool_size, block=True, retries=False)

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        headers = {
            "Authorization": endpoint.authorization,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
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
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return Response(answer.status, answer.data, answer.headers.get("Retry-After"))
