"""Kinesis batches Lambda gave up on, forwarded again by the SQS function.

The Kinesis mapping's on-failure destination is an S3 bucket (KINESIS_FAILED_BATCHES_BUCKET): for a batch it gives up
on, Lambda writes an invocation record whose `payload` is "the original invocation record as an escaped JSON string"
(https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html; emulators write an object, which
is read too). The bucket notifies the retry queue, which the SQS function reads: a body that is S3's event
notification for that bucket names the object, and each Kinesis record of its payload is decoded here exactly as the
Kinesis source decodes it (sources/kinesis.py, KPL and all): the same items under the same keys, so the same
`$insert_id`s and default times as the Kinesis function would have sent.

Every notification ends in one state, through the SQS message it came in (the record reported or parked): its items';
none for S3's test event (sent once when the notification is set up); reported for retry when the object cannot be
read now (`SourceUnavailable`); parked whole, with the reason, when the object is not an invocation record
(`DecodeError`). A Kinesis record in it that cannot be decoded is one item holding that record, refused with the
reason, as the Kinesis function would have parked it; the batch's other records go on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from .. import codec, objects
from ..errors import DecodeError
from ..model import Item
from . import kinesis
from .documents import Loads

_TEST_EVENT = "s3:TestEvent"


def notification_items(value: dict[str, Any], loads: Loads = codec.loads) -> list[Item] | None:
    """The items of the failed batches an S3 notification names, [] for S3's test event; None when `value` is not a
    notification of the failed-batches bucket (or no bucket is bound: `objects.bound`), to be decoded as any body."""
    store = objects.current()
    if store is None:
        return None
    if value.get("Event") == _TEST_EVENT and value.get("Service") == "Amazon S3":
        return [] if value.get("Bucket") == store.bucket else None
    keys = _created_keys(value.get("Records"), store.bucket)
    if keys is None:
        return None
    items: list[Item] = []
    for key in keys:
        where = f"s3://{store.bucket}/{key}"
        for position, raw in enumerate(_kinesis_records(store.read(key), where, loads)):
            items.extend(_record_items(raw, f"{where}:{position}", loads))
    return items


def _created_keys(records: Any, bucket: str) -> list[str] | None:
    """The keys of the objects the notification says were created, URL-decoded; None when it is not S3's notification
    for `bucket`. Another event of that bucket (a deletion) names no batch to forward."""
    if type(records) is not list or not records:
        return None
    keys = []
    for record in records:
        s3 = record.get("s3") if type(record) is dict and record.get("eventSource") == "aws:s3" else None
        if type(s3) is not dict or type(about := s3.get("bucket")) is not dict or about.get("name") != bucket:
            return None
        event_name = record.get("eventName")
        if type(event_name) is not str or not event_name.startswith("ObjectCreated:"):
            continue
        created = s3.get("object")
        key = created.get("key") if type(created) is dict else None
        if type(key) is not str or not key:
            raise DecodeError(f"S3 notification for {bucket} names no object key")
        keys.append(unquote_plus(key))  # S3 writes the key URL-encoded, a space as "+"
    return keys


def _kinesis_records(data: bytes, where: str, loads: Loads) -> list[Any]:
    """The records of the Kinesis event an invocation record holds; DecodeError when it is not one."""
    try:
        document = loads(data)
    except codec.JSONDecodeError as exc:
        raise DecodeError(f"{where} is not a Lambda invocation record: not JSON ({exc})") from exc
    payload = document.get("payload") if type(document) is dict else None
    if type(payload) is str:
        try:
            payload = loads(payload)
        except codec.JSONDecodeError as exc:
            raise DecodeError(f"{where} is not a Lambda invocation record: its payload is not JSON ({exc})") from exc
    records = payload.get("Records") if type(payload) is dict else None
    if type(records) is not list:
        raise DecodeError(f"{where} is not a Lambda invocation record: no payload with a Records list")
    return records


def _record_items(raw: Any, where: str, loads: Loads) -> list[Item]:
    """One Kinesis record's items, as the Kinesis function decodes them; one refused item when it cannot be."""
    if type(raw) is not dict or type(raw.get("kinesis")) is not dict:
        return [Item(raw, f"{where}:0", None, "the failed batch holds a record that is not a Kinesis record")]
    record = kinesis.KinesisRecord(raw)
    try:
        return kinesis.decode(record, loads)
    except DecodeError as exc:
        key = kinesis.record_key(record) if record.identifier is not None else where
        return [Item(raw, f"{key}:0", None, f"Kinesis record {key}: {exc}")]
