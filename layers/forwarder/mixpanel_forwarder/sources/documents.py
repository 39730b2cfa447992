"""Payload documents into items: JSON object or array, NDJSON, and the envelopes events arrive in
(SNS notification, EventBridge event, CloudWatch Logs subscription)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import codec
from ..errors import DecodeError
from ..model import DefaultTime, Item, resolve_time
from ..timefmt import iso_to_ms

_MAX_NESTING = 4  # envelopes inside envelopes (SNS carrying EventBridge, ...) before we stop unwrapping

# The JSON reader: `codec.loads` (orjson), or `codec.loads_exact` to read an item again with its big
# integers exact. The items, and their keys, are the same with either.
Loads = Callable[[bytes | str], Any]


def decode_document(
    data: bytes | str, key: str, default_time_ms: DefaultTime, loads: Loads = codec.loads
) -> list[Item]:
    """Items of one payload; raises DecodeError when no part of it is JSON."""
    try:
        value = loads(data)
    except codec.JSONDecodeError as exc:
        return _decode_ndjson(data, key, default_time_ms, exc, loads)
    return decode_value(value, key, default_time_ms, 0, loads)


def decode_value(
    value: Any, key: str, default_time_ms: DefaultTime, depth: int = 0, loads: Loads = codec.loads
) -> list[Item]:
    if type(value) is dict:
        if "properties" in value and "event" in value:  # the common case: a Mixpanel event, no envelope
            return [Item(value, f"{key}:0", default_time_ms)]
        if depth < _MAX_NESTING:
            envelope = _unwrap(value, key, default_time_ms, depth, loads)
            if envelope is not None:
                return envelope
        return [Item(value, f"{key}:0", default_time_ms)]
    if isinstance(value, list):
        return [Item(element, f"{key}:{position}", default_time_ms) for position, element in enumerate(value)]
    # A bare string, number or null: an item that normalizing will refuse, with a reason.
    return [Item(value, f"{key}:0", default_time_ms)]


def _unwrap(
    value: dict[str, Any], key: str, default_time_ms: DefaultTime, depth: int, loads: Loads
) -> list[Item] | None:
    """Items inside a known envelope, or None when `value` is not an envelope."""
    if value.get("Type") == "Notification" and "TopicArn" in value and "Message" in value:
        # Prefer the SNS MessageId: it survives re-publishing to another queue, so dedup holds.
        inner_key = f"sns:{value['MessageId']}" if value.get("MessageId") else key
        inner_time = _EnvelopeTime(value.get("Timestamp"), default_time_ms)
        message = value["Message"]
        if not isinstance(message, str):
            return decode_value(message, inner_key, inner_time, depth + 1, loads)
        try:
            return _decode_nested(message, inner_key, inner_time, depth, loads)
        except DecodeError as exc:
            return [Item(message, f"{inner_key}:0", inner_time, f"SNS Message is not JSON: {exc}")]
    if "detail-type" in value and "detail" in value and "source" in value:
        inner_key = f"eb:{value['id']}" if value.get("id") else key
        inner_time = _EnvelopeTime(value.get("time"), default_time_ms)
        return decode_value(value["detail"], inner_key, inner_time, depth + 1, loads)
    message_type = value.get("messageType")
    if message_type in ("DATA_MESSAGE", "CONTROL_MESSAGE") and "logEvents" in value:
        if message_type == "CONTROL_MESSAGE":
            return []  # CloudWatch Logs' health probe: nothing to import, nothing failed
        return _decode_log_events(value["logEvents"], key, default_time_ms, depth, loads)
    return None


class _EnvelopeTime:
    """An envelope's ISO-8601 timestamp in epoch milliseconds, else the time around the envelope: read when
    an item asks for it, once."""

    __slots__ = ("_ms", "_outer", "_text")

    def __init__(self, text: Any, outer: DefaultTime) -> None:
        self._text = text
        self._outer = outer

    def __call__(self) -> int | None:
        try:
            return self._ms
        except AttributeError:
            self._ms: int | None = iso_to_ms(self._text) or resolve_time(self._outer)
            return self._ms


def _decode_nested(text: str, key: str, default_time_ms: DefaultTime, depth: int, loads: Loads) -> list[Item]:
    try:
        value = loads(text)
    except codec.JSONDecodeError as exc:
        return _decode_ndjson(text, key, default_time_ms, exc, loads)
    return decode_value(value, key, default_time_ms, depth + 1, loads)


def _decode_log_events(log_events: Any, key: str, default_time_ms: DefaultTime, depth: int, loads: Loads) -> list[Item]:
    if not isinstance(log_events, list):
        raise DecodeError("CloudWatch Logs document: logEvents is not a list")
    items: list[Item] = []
    for position, log_event in enumerate(log_events):
        if not isinstance(log_event, dict):
            items.append(Item(log_event, f"{key}:{position}", default_time_ms, "log event is not an object"))
            continue
        # The log event id is unique and stable across redeliveries of the subscription document.
        event_key = f"cwl:{log_event['id']}" if log_event.get("id") else f"{key}:{position}"
        timestamp = log_event.get("timestamp")
        event_time = timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else default_time_ms
        message = log_event.get("message")
        if not isinstance(message, str):
            items.append(Item(message, f"{event_key}:0", event_time, "log event has no message text"))
            continue
        try:
            items.extend(_decode_nested(message, event_key, event_time, depth, loads))
        except DecodeError as exc:
            items.append(Item(message, f"{event_key}:0", event_time, f"log message is not JSON: {exc}"))
    return items


def _decode_ndjson(
    data: bytes | str, key: str, default_time_ms: DefaultTime, whole_error: ValueError, loads: Loads
) -> list[Item]:
    """One item per non-blank line; a line that is not JSON becomes an item with an error.

    Lines end at "\n" (and a "\r" before it), as NDJSON says: not at every line break `splitlines`
    knows, which a JSON string may hold (U+2028, U+0085, ...). Bytes stay bytes, so a line that is not
    JSON (or not UTF-8) is kept, and parked, exactly as it arrived.
    """
    lines: list[bytes | str]
    if isinstance(data, bytes | bytearray):
        lines = [line.removesuffix(b"\r") for line in bytes(data).split(b"\n") if line.strip()]
    else:
        lines = [line.removesuffix("\r") for line in data.split("\n") if line.strip()]
    if len(lines) < 2:
        raise DecodeError(f"not JSON: {whole_error}")
    items: list[Item] = []
    decoded_any = False
    for line_number, line in enumerate(lines):
        line_key = f"{key}:{line_number}"
        try:
            value = loads(line)
        except codec.JSONDecodeError as exc:
            items.append(Item(line, line_key, default_time_ms, f"NDJSON line {line_number + 1} is not JSON: {exc}"))
            continue
        decoded_any = True
        items.extend(decode_value(value, line_key, default_time_ms, 0, loads))
    if not decoded_any:
        raise DecodeError(f"not JSON and no line of it is JSON: {whole_error}")
    return items
