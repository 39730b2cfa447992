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
    """The single-failure documents a parked document holds: a shared one is split into one per event."""
    entries = document.get("events")
    if not isinstance(entries, list):
        return [document]
    source = document.get("source") or {}
    out = []
    for entry in entries:
        coordinates = {name: entry[name] for name in COORDINATES if name in entry}
        reason = {name: entry[name] for name in ("reason", "field", "kind") if name in entry}
        out.append({**reason, "source": {**source, **coordinates}, "event": entry.get("event")})
    return out


class ParkedReader:
    """Turns dead-letter messages back into parked documents: parts are joined, S3 pointers fetched."""

    def __init__(self, s3_client: Any = None) -> None:
        self._s3_client = s3_client
        self._parts: dict[str, dict[int, bytes]] = {}

    def read(self, body: str) -> dict[str, Any] | None:
        """The whole document, or None while parts of it are still missing."""
        message: dict[str, Any] = codec.loads(body)
        part = message.get("part")
        if isinstance(part, dict):
            pieces = self._parts.setdefault(str(part["id"]), {})
            pieces[int(part["index"])] = base64.b64decode(message["data"])
            if len(pieces) < int(part["count"]):
                return None
            del self._parts[str(part["id"])]
            document: dict[str, Any] = codec.loads(b"".join(pieces[i] for i in sorted(pieces)))
            return document
        pointer = message.get("s3")
        if isinstance(pointer, dict):
            if self._s3_client is None:
                from .aws import client

                self._s3_client = client("s3")
            answer = self._s3_client.get_object(Bucket=pointer["bucket"], Key=pointer["key"])
            stored: dict[str, Any] = codec.loads(answer["Body"].read())
            return stored
        return message

    @property
    def incomplete(self) -> list[str]:
        """Ids of part groups still missing pieces."""
        return list(self._parts)
