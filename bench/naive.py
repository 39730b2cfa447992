"""The forwarder anyone would write in an afternoon: the baseline our CPU per event is compared with.

`json.loads` per body, `json.dumps` per 2000-event batch, `gzip.compress` with its defaults (level 9),
one urllib3 request at a time, and no validation or failure accounting. It decodes the same envelopes ours
does (SNS, Kinesis base64, KPL), and does the least Mixpanel requires of an event (a numeric `time`, an
`$insert_id`), or it could not import the same data: a string time becomes a number, an event without
`$insert_id` gets one from its record's id. Nothing else is checked or changed.

`FloorForwarder` is the same loop on the codecs ours uses (orjson, ISA-L gzip level 1): the least CPU a
forwarder with those codecs can spend, so what ours spends above it is its validation and bookkeeping.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from datetime import datetime
from typing import Any

import orjson
import urllib3
from isal import igzip

from localdev.eventgen import KPL_MAGIC

BATCH = 2000


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of one protobuf message: varints and length-delimited fields only (all KPL uses)."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        if key & 7 == 0:
            value, pos = _varint(data, pos)
            out.append((key >> 3, value))
        else:
            size, pos = _varint(data, pos)
            out.append((key >> 3, data[pos : pos + size]))
            pos += size
    return out


def kpl_user_records(data: bytes) -> list[bytes]:
    """The user records of a KPL aggregate (the data field of each Record), or the data itself."""
    if not data.startswith(KPL_MAGIC):
        return [data]
    records: list[bytes] = []
    for number, value in _fields(data[len(KPL_MAGIC) : -16]):
        if number == 3 and isinstance(value, bytes):
            records.extend(v for n, v in _fields(value) if n == 3 and isinstance(v, bytes))
    return records


def ready(event: Any, record_id: str, index: int) -> Any:
    """The event as Mixpanel takes it: `time` a number, an `$insert_id` (from the record's id when it has none).

    No check: a malformed event raises or is refused by Mixpanel, and the benchmark fails.
    """
    properties = event["properties"]
    time = properties.get("time")
    if type(time) is str:
        try:
            properties["time"] = float(time)  # seconds or milliseconds, as Mixpanel reads a number
        except ValueError:
            properties["time"] = datetime.fromisoformat(time).timestamp()
    if "$insert_id" not in properties:
        properties["$insert_id"] = hashlib.md5(f"{record_id}:{index}".encode(), usedforsecurity=False).hexdigest()
    return event


class NaiveForwarder:
    """Decode everything, then POST it 2000 events at a time; returns how many events Mixpanel imported."""

    @staticmethod
    def loads(data: str | bytes) -> Any:
        return json.loads(data)

    @staticmethod
    def encode(events: list[Any]) -> bytes:
        return gzip.compress(json.dumps(events).encode())

    def __init__(self, api_url: str, project_id: str, username: str, secret: str) -> None:
        self._pool = urllib3.PoolManager()
        self._url = f"{api_url}/import?strict=1&project_id={project_id}"
        token = base64.b64encode(f"{username}:{secret}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }

    def forward(self, source: str, event: dict[str, Any]) -> int:
        events: list[Any] = []
        for record in event["Records"]:
            if source == "sqs":
                record_id = record["messageId"]
                value = self.loads(record["body"])
                if isinstance(value, dict) and value.get("Type") == "Notification":
                    value = self.loads(value["Message"])
                values = value if isinstance(value, list) else [value]
            else:
                record_id = record["kinesis"]["sequenceNumber"]
                values = [self.loads(data) for data in kpl_user_records(base64.b64decode(record["kinesis"]["data"]))]
            events.extend(ready(one, record_id, index) for index, one in enumerate(values))
        return self._send(events)

    def _send(self, events: list[Any]) -> int:
        imported = 0
        for start in range(0, len(events), BATCH):
            body = self.encode(events[start : start + BATCH])
            response = self._pool.request("POST", self._url, body=body, headers=self._headers)
            if response.status != 200:
                raise RuntimeError(f"naive forwarder: HTTP {response.status}: {response.data[:200]!r}")
            imported += json.loads(response.data)["num_records_imported"]
        return imported


class FloorForwarder(NaiveForwarder):
    """The naive loop on orjson and ISA-L gzip level 1."""

    @staticmethod
    def loads(data: str | bytes) -> Any:
        return orjson.loads(data)

    @staticmethod
    def encode(events: list[Any]) -> bytes:
        return bytes(igzip.compress(orjson.dumps(events), compresslevel=1))
