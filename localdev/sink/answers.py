"""What the sink sends back: an Answer (and how it is delivered: at once, after a hang, dripped, or as a reset),
Mixpanel's JSON error shape and a proxy's HTML error page. Every endpoint and fault builds its answers here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from .codec import dumps

JsonObject = dict[str, Any]

_RATE_LIMITED = "Project exceeded rate limits. Please retry the request with exponential backoff."
_PROXY_HTML = "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>\n"


@dataclasses.dataclass(frozen=True, slots=True)
class Drip:
    """One byte every `interval` seconds: of the body, or (`headers`) of the status line and headers too."""

    interval: float
    headers: bool = False

    @property
    def kind(self) -> str:
        """How RequestLog.fault names it."""
        return "drip-headers" if self.headers else "drip"


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """What the handler must do: answer `status`, or first hang `seconds` (or until `hold` says the hang is over:
    it reads the sink's clock, which may be a test's), or reset the connection."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    hang_seconds: float = 0.0
    reset: bool = False
    drip: Drip | None = None  # Mixpanel's real answer (the import happens), sent one byte at a time
    hold: Callable[[], bool] | None = None


def reason(status: int) -> str:
    """The status line's reason phrase."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def json_answer(status: int, payload: JsonObject, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, dumps(payload), headers=headers)


def error(status: int, message: str, status_field: object | None = None) -> Answer:
    """Mixpanel's error shape: `code`, `error` and `status` (the reason phrase unless given)."""
    status_value = reason(status) if status_field is None else status_field
    return json_answer(status, {"code": status, "error": message, "status": status_value})


def rate_limited() -> Answer:
    """Mixpanel's 429, without Retry-After (docs.mixpanel.com/troubleshooting/errors/429-rate-limit-exceeded)."""
    return error(429, _RATE_LIMITED)


def html(status: int) -> Answer:
    """The page a proxy or load balancer answers with when Mixpanel's servers do not."""
    body = _PROXY_HTML.format(code=status, reason=reason(status)).encode()
    return Answer(status, body, content_type="text/html; charset=utf-8")


def too_large(max_bytes: int) -> Answer:
    """Mixpanel's 413, which names the limit."""
    return error(413, f"request exceeds max limit of {max_bytes} bytes", "Payload Too Large")
