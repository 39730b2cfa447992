"""Mixpanel's rules every ingestion endpoint shares: who may write (auth), how a request body is read, which ids
are placeholders and how ids compare. Each endpoint's own rules live beside this module (`imports` for /import)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import hmac
import zlib
from typing import Any

from .codec import loads, stdlib_dumps

# Mixpanel refuses these as $insert_id or distinct_id, compared case-insensitively.
_PLACEHOLDERS = frozenset(
    "00000000-0000-0000-0000-000000000000 anon anonymous nil none null n/a na undefined unknown <nil> 0 -1 true false"  # noqa: SIM905
    " [] {}".split()
)


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    """The project the sink stands in for: a service account and its project id, and optionally a project token."""

    username: str
    secret: str
    project_id: str
    token: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Body:
    """A decoded request body: `events` is None when it could not be read, and `error` then says why."""

    raw_bytes: int
    too_large: bool
    events: list[Any] | None
    error: str | None


def authorized(account: Account, authorization: str, project_id: str | None) -> bool:
    """HTTP Basic with the service account and its project id, or the project token as user and no password."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    if not colon:
        return False
    if account.token is not None and not password and hmac.compare_digest(user.encode(), account.token.encode()):
        return True
    return (
        hmac.compare_digest(user.encode(), account.username.encode())
        and hmac.compare_digest(password.encode(), account.secret.encode())
        and project_id == account.project_id
    )


def param(query: dict[str, list[str]], name: str) -> str | None:
    """A query parameter's last value, as Mixpanel reads a repeated one."""
    values = query.get(name)
    return values[-1] if values else None


def is_placeholder(value: object) -> bool:
    if isinstance(value, str):
        return value.lower() in _PLACEHOLDERS
    if value is None or isinstance(value, bool | int | float | list | dict):
        # Mixpanel stringifies ids: 0, -1, true, false, null, [] and {} are the same placeholders.
        return stdlib_dumps(value).decode().lower() in _PLACEHOLDERS
    return False


# Mixpanel stores numbers as doubles: an integer beyond this is kept as the double nearest it.
_EXACT_DOUBLE_INT = 2**53


def id_text(value: object) -> str:
    """An id as Mixpanel compares it: as text, 42 and "42" alike; a number as the double Mixpanel stores, so that an
    integer id beyond 2**53 sent as a number loses digits here too (and meets another's profile, or misses its
    events' id sent as digits) — as docs/messages.md says Mixpanel would."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT_DOUBLE_INT:
        value = float(value)
    return stdlib_dumps(value).decode()


def decode_body(body: bytes, content_encoding: str, content_type: str, max_bytes: int) -> Body:
    """Gunzips when asked, then reads a JSON array or NDJSON; `too_large` compares the uncompressed size."""
    raw = body
    if content_encoding.strip().lower() == "gzip":
        try:
            raw = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return Body(0, False, None, "unable to decompress body")
    too_large = len(raw) > max_bytes
    try:
        events = _parse(raw, content_type)
    except (ValueError, RecursionError):
        return Body(len(raw), too_large, None, "unable to parse the body as JSON or NDJSON events")
    return Body(len(raw), too_large, events, None)


def _parse(raw: bytes, content_type: str) -> list[Any]:
    """A JSON array, or NDJSON (one object per line, blank lines skipped); ValueError when unreadable."""
    if "ndjson" in content_type.lower():
        return [loads(line) for line in raw.splitlines() if line.strip()]
    events = loads(raw)
    if not isinstance(events, list):
        raise ValueError("the body must be a JSON array of events")
    return events
