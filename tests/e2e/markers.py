"""Finding markers wherever a message ended: in JSON (values and keys: some profile updates keep theirs in a
property's name), in raw text, in base64, in gzip, in KPL protobuf bytes."""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from contextlib import suppress
from typing import Any

MARKER = re.compile(r"e2e[a-z]{2}[0-9]{7}")
_MARKER_BYTES = re.compile(rb"e2e[a-z]{2}[0-9]{7}")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4}){3,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def markers_in_bytes(data: bytes) -> set[str]:
    """Markers in raw bytes, and inside them when they are gzip (KPL protobuf keeps its payload verbatim)."""
    found = {match.decode() for match in _MARKER_BYTES.findall(data)}
    if data[:2] == b"\x1f\x8b":
        with suppress(OSError, EOFError, zlib.error):
            found |= markers_in_bytes(gzip.decompress(data))
    return found


def markers_in(value: Any) -> set[str]:
    """Every marker anywhere in a JSON value, looking inside strings that are base64 (Kinesis data,
    binary payloads parked as `{"base64": ...}`) and JSON text (SQS bodies, SNS messages) alike."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            found.update(marker for key in item for marker in MARKER.findall(str(key)))
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.update(MARKER.findall(item))
            if len(item) >= 12 and _BASE64.fullmatch(item):
                with suppress(binascii.Error, ValueError):
                    found |= markers_in_bytes(base64.b64decode(item, validate=True))
    return found
