"""The HTTP seam: one method that POSTs a gzip body to /import and returns the answer.

Tests swap in any object with the same `send`; production uses one urllib3 keep-alive pool per container.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Protocol

import urllib3

from .errors import TransportError
from .settings import Settings

USER_AGENT = "mixpanel-lambda-forwarder/0.1"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    retry_after: str | None = None


class Sender(Protocol):
    def send(self, body: bytes, timeout: float) -> Response:
        """POST one gzip-compressed JSON array; raises TransportError when no HTTP answer came in time."""
        ...


class Urllib3Sender:
    def __init__(self, settings: Settings) -> None:
        self._url = settings.import_url
        self._connect_timeout = settings.connect_timeout
        credentials = settings.credentials
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        # Certificates are always verified (urllib3's default with the system's CA bundle); `block`
        # keeps the pool at one connection per concurrent request.
        self._pool = urllib3.PoolManager(
            num_pools=2, maxsize=settings.max_concurrent_requests, block=True, retries=False
        )

    def send(self, body: bytes, timeout: float) -> Response:
        try:
            answer = self._pool.request(
                "POST",
                self._url,
                body=body,
                headers=self._headers,
                timeout=urllib3.Timeout(connect=min(self._connect_timeout, timeout), read=timeout, total=timeout),
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return Response(answer.status, answer.data, answer.headers.get("Retry-After"))
