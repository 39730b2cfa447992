"""What /engage and /groups read and what they answer, as Mixpanel does.

Read: a JSON array of updates (`Content-Type: application/json`), or form-encoded `data=<JSON>` (the form mixpanel-
python and Segment send; base64 JSON in `data=`, mixpanel-node's and mixpanel-java's form, is read too). One
object instead of an array is read as an array of one. `verbose` comes from the query or the form.

Answered: HTTP 200 even when updates are refused ("This API will return a 200 OK even if there are data validation
issues"). With `verbose=1` the body is `{"status": 1, "error": null}`, or `{"status": 0, "error": "<the first
refused update's message>"}`; without it, the text `1` when at least one update was valid and `0` when none was
(Mixpanel's definition: "1 – One or more objects provided are valid"). The valid updates of a request are applied
even when another is refused: a verbose `status: 0` does not say which were.

Not Mixpanel's 200: a body with any Content-Encoding (gzip included: "This API does not support gzip encoding")
and a request of more than 2000 updates are refused with HTTP 400 and `{"status": 0, "error": ...}` whatever
`verbose` says, since a bare `0` would hide why; a body over the byte cap gets /import's 413.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any
from urllib.parse import parse_qs

from .answers import Answer, json_answer
from .codec import loads
from .rules import param

_MISSING = "data, missing or empty"


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileRequest:
    """A request read: its updates (None when unreadable, `error` then says why), and whether it asked verbose."""

    updates: list[Any] | None
    error: str | None
    verbose: bool
    encoding: str  # the Content-Encoding, lower-cased; "" when none


def read(query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> ProfileRequest:
    """The updates and the parameters; an encoded body is not read (it is refused whole)."""
    encoding = headers.get("content-encoding", "").strip().lower()
    encoding = "" if encoding == "identity" else encoding
    params = query
    form = "application/x-www-form-urlencoded" in headers.get("content-type", "").lower()
    if form and not encoding:
        try:
            params = {**query, **parse_qs(body.decode(), keep_blank_values=True)}  # the form wins, as it comes last
        except UnicodeDecodeError:
            return ProfileRequest(None, "data, not UTF-8 form fields", _verbose(query), encoding)
    verbose = _verbose(params)
    if encoding:
        return ProfileRequest(None, None, verbose, encoding)
    data = (param(params, "data") or "").encode() if form else body
    updates, error = _updates(data)
    return ProfileRequest(updates, error, verbose, encoding)


def _verbose(params: dict[str, list[str]]) -> bool:
    """`verbose=1`; also 2, which Mixpanel's own sample sends without defining it."""
    return (param(params, "verbose") or "0").strip() not in ("", "0")


def _updates(data: bytes) -> tuple[list[Any] | None, str | None]:
    stripped = data.strip()
    if not stripped:
        return None, _MISSING
    try:
        updates = loads(stripped)
    except (ValueError, RecursionError):
        try:  # base64 JSON is never JSON itself: it starts with W ([) or e ({)
            updates = loads(base64.b64decode(stripped, validate=True))
        except (binascii.Error, ValueError, RecursionError):
            return None, "data, neither JSON nor base64 JSON"
    if isinstance(updates, dict):
        updates = [updates]
    if not isinstance(updates, list):
        return None, "data, must be a JSON array of updates"
    if not updates:
        return None, _MISSING
    return updates, None


def answer(verbose: bool, *, valid: int, error: str | None) -> tuple[Answer, int]:
    """Mixpanel's 200 and the status its body says: verbose, 1 unless an update was refused; bare, 1 when any
    update was valid."""
    if verbose:
        status = 0 if error is not None else 1
        return json_answer(200, {"status": status, "error": error}), status
    status = 1 if valid else 0
    return Answer(200, b"%d" % status, "text/plain"), status


def refused(status: int, message: str) -> Answer:
    """An HTTP error in the verbose shape, verbose or not."""
    return json_answer(status, {"status": 0, "error": message})


def encoded(encoding: str, path: str) -> Answer:
    """The 400 for a body with a Content-Encoding, which Mixpanel's profile endpoints do not read."""
    return refused(400, f"Content-Encoding {encoding} is not supported: send {path} an uncompressed body")


def miscounted(verbose: bool) -> Answer:
    """A 200 that is not the answer asked for: a bare `1` to a verbose request, JSON of no known shape to a bare one."""
    if verbose:
        return Answer(200, b"1", "text/plain")
    return Answer(200, b'{"status":"ok"}', "application/json")
