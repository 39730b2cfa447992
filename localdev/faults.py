"""The sink's hostile answers beyond plain failures: a drip (an answer sent one byte at a time) and a 200 that
is not Mixpanel's answer (a captive portal's page, or a count that is not the number of events sent)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterable

PORTAL_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>"
    b"<body><h1>Welcome</h1><p>Accept the terms of use to continue.</p></body></html>\n"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Drip:
    """One byte every `interval` seconds: of the body, or (`headers`) of the status line and headers too."""

    interval: float
    headers: bool = False

    @property
    def kind(self) -> str:
        """How RequestLog.fault names it."""
        return "drip-headers" if self.headers else "drip"


def unconfirmed(miscount: bool, events: int) -> tuple[bytes, str, str]:
    """Body, content type and name of a 200 that imports nothing: a captive portal's page, or Mixpanel's JSON
    with a num_records_imported that is not the number of events sent."""
    if not miscount:
        return PORTAL_PAGE, "text/html; charset=utf-8", "portal"
    wrong = events - 1 if events else 1
    body = json.dumps({"code": 200, "num_records_imported": wrong, "status": "OK"}, separators=(",", ":"))
    return body.encode(), "application/json", "miscount"


def response_head(status: int, reason: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def drip(write: Callable[[bytes], object], head: bytes, body: bytes, pace: Drip, stopping: threading.Event) -> bool:
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
