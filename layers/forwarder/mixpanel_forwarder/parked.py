"""The parked document: what the dead-letter queue holds for each permanent failure, written and read back.

One refused event, or one record that could not be decoded:

    {"reason", "field"?, "kind"?, "source": {...origin, <coordinates>}, "event" | "record": <payload>}

`kind` is there for a profile update only ("user" or "group"): its payload, under "event", is the update.
The coordinates are those of a message refused before sending, parked as its item arrived, for a replay to map it
again as it was then: `item` (the item's key: its `$insert_id` is derived from it), `defaultTimeMs` (the envelope's
time), `messages` (when the item made other messages too, which were imported, filtered or parked apart: the keys
of the refused ones, the only ones a replay makes again) and `rules` (the settings that mapped it, not at their
defaults: `Settings.mapping_rules`). A message parked after Mixpanel refused it has none: it is as it was sent.

Several refused events of one record share one document, as many as fit in one message:

    {"source": {...origin of the record}, "events": [{"reason", "field"?, "kind"?, <coordinates>, "event"}, ...]}

Payloads are kept as they arrived. Bytes (a KPL sub-record or NDJSON line that is not text) are kept as
`{"base64": …}`. A payload that cannot be written back as JSON (nesting deeper than the encoder goes, an
integer beyond 64 bits, a lone surrogate) is replaced by the Lambda record it came from, which holds its
exact text; and a record that cannot be written either is kept as the base64 of its payload's bytes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any, NamedTuple

from . import codec
from .errors import DecodeError

# What a message refused before sending keeps beside its record's origin (the module docstring says what each is).
COORDINATES = ("item", "defaultTimeMs", "messages", "rules")


class Parked(NamedTuple):
    """One permanent failure: why, from where, and the payload (`record` whole, or one `event`).

    `record` is the Lambda record an event came from: parked in the event's place when the event cannot
    be encoded. `group` (the record's number) lets events of one record share a document.
    """

    reason: dict[str, Any]
    source: dict[str, Any]
    payload_key: str
    payload: Any
    record: dict[str, Any] | None = None
    group: int | None = None

    def document(self) -> bytes:
        """The single-failure document, always encodable (see the module docstring for the fallbacks)."""
        for key, payload in self._payloads():
            try:
                return codec.dumps({**self.reason, "source": self.source, key: payload})
            except (TypeError, ValueError, RecursionError):
                continue
        raise AssertionError("unreachable: a base64 payload always encodes")

    def entry(self) -> bytes | None:
        """This event as an entry of a shared document, or None when it needs a document of its own."""
        if self.payload_key != "event":
            return None
        entry = {**self.reason, **self.source_coordinates(), "event": _plain(self.payload)}
        try:
            return codec.dumps(entry)
        except (TypeError, ValueError, RecursionError):
            return None

    def source_coordinates(self) -> dict[str, Any]:
        return {name: self.source[name] for name in COORDINATES if name in self.source}

    def _payloads(self) -> Iterator[tuple[str, Any]]:
        yield self.payload_key, _plain(self.payload)
        if self.record is not None and self.payload_key == "event":
            yield "record", self.record
            yield "record", {"base64": _b64(_payload_bytes(self.record))}
        else:
            yield self.payload_key, {"base64": _b64(_payload_bytes(self.payload))}


def shared_document(source: dict[str, Any], entries: list[bytes]) -> bytes:
    """Several events of one record in one document; `source` without the events' own coordinates."""
    return b'{"source":' + codec.dumps(source) + b',"events":[' + b",".join(entries) + b"]}"


def shared_source(item: Parked) -> dict[str, Any]:
    return {name: value for name, value in item.source.items() if name not in COORDINATES}


def _plain(payload: Any) -> Any:
    return {"base64": _b64(payload)} if isinstance(payload, bytes | bytearray) else payload


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(data).decode()


def _payload_bytes(payload: Any) -> bytes:
    """The exact bytes a payload arrived as: an SQS body's text, a Kinesis record's data, or raw bytes."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogatepass")  # a lone surrogate survives, byte for byte
    if isinstance(payload, dict):
        body = payload.get("body")
        if isinstance(body, str):
            return body.encode("utf-8", "surrogatepass")
        kinesis = payload.get("kinesis")
        data = kinesis.get("data") if isinstance(kinesis, dict) else None
        if isinstance(data, str):
            try:
                return base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                return data.encode("utf-8", "surrogatepass")
    return repr(payload).encode("utf-8", "surrogatepass")  # not a shape Lambda delivers: keep what can be kept


def failures(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The single-failure documents a parked document holds: a shared one is split into one per event. DecodeError
    naming what is wrong when it is not the shape this module writes (edited by hand, or cut short)."""
    source = document.get("source") or {}
    if type(source) is not dict:
        raise DecodeError("source must be an object")
    if "events" not in document:
        return [document]
    entries = document["events"]
    if type(entries) is not list or not entries or any(type(entry) is not dict for entry in entries):
        raise DecodeError("events must be a non-empty list of objects, one per parked message")
    out = []
    for position, entry in enumerate(entries):
        if "event" not in entry:
            raise DecodeError(f"events[{position}] has no event")
        coordinates = {name: entry[name] for name in COORDINATES if name in entry}
        reason = {name: entry[name] for name in ("reason", "field", "kind") if name in entry}
        out.append({**reason, "source": {**source, **coordinates}, "event": entry["event"]})
    return out


class ParkedReader:
    """Turns dead-letter messages back into parked documents: parts are joined, S3 pointers fetched."""

    def __init__(self, s3_client: Any = None) -> None:
        self._s3_client = s3_client
        self._parts: dict[str, dict[int, bytes]] = {}
        self.last_part: str | None = None  # the id of the part group the last message read belongs to, if any

    def read(self, body: str) -> dict[str, Any] | None:
        """The whole document, or None while parts of it are still missing. DecodeError saying what is wrong when the
        message is no parked document (not a JSON object, a part or pointer edited or cut short), or the object a
        pointer names cannot be read."""
        self.last_part = None
        message = _object(body, "the message")
        part = message.get("part")
        if part is not None:
            return self._part(part, message.get("data"))
        pointer = message.get("s3")
        if pointer is not None:
            return self._fetch(pointer)
        return message

    def _part(self, part: Any, data: Any) -> dict[str, Any] | None:
        if type(part) is not dict or not isinstance(part.get("id"), str | int) or type(data) is not str:
            raise DecodeError("a part must have part: {id, index, count} and its base64 data")
        index, count = part.get("index"), part.get("count")
        if type(index) is not int or type(count) is not int or not 0 <= index < count:
            raise DecodeError(f"part {index!r} of {count!r}: the index must be an integer from 0 to count - 1")
        group = self.last_part = str(part["id"])
        try:
            piece = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise DecodeError(f"part {index} of {count} of {group}: its data is not base64") from None
        pieces = self._parts.setdefault(group, {})
        pieces[index] = piece
        if len(pieces) < count:
            return None
        del self._parts[group]
        return _object(b"".join(pieces[i] for i in sorted(pieces)), f"the document in {count} parts")

    def _fetch(self, pointer: Any) -> dict[str, Any]:
        bucket, key = (pointer.get("bucket"), pointer.get("key")) if type(pointer) is dict else (None, None)
        if type(bucket) is not str or type(key) is not str:
            raise DecodeError("a pointer must be s3: {bucket, key}")
        if self._s3_client is None:
            from .aws import client

            self._s3_client = client("s3")
        try:
            stored = self._s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore's errors (NoSuchKey, AccessDenied, a timeout): kept, to be read again
            from .aws import describe

            found = describe(exc)
            raise DecodeError(f"cannot read s3://{bucket}/{key}: {found['code'] or found['type']}") from None
        return _object(stored, f"s3://{bucket}/{key}")

    @property
    def incomplete(self) -> list[str]:
        """Ids of part groups still missing pieces."""
        return list(self._parts)


def _object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = codec.loads(text)
    except codec.JSONDecodeError as exc:
        raise DecodeError(f"{what} is not JSON: {exc}") from None
    if type(value) is not dict:
        raise DecodeError(f"{what} is not a JSON object")
    return value
