"""Parking permanent failures in the forwarder's dead-letter queue, with the reason and where they came from.

A parked document is `{"reason", "field"?, "source": {...}, "record" | "event": <payload as it arrived>}`.
One that is larger than the queue's MaximumMessageSize (or holds characters SQS refuses) is never
truncated: it goes to S3 when `DEAD_LETTER_BUCKET` is set (the message then points at the object), or
is split into base64 parts, each carrying the reason, the source and `part: {id, index, count}`;
`ParkedReader` puts either back together. boto3 is imported on first use only.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any, NamedTuple, Protocol

from . import codec
from .log import logger

SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 1024 * 1024  # SendMessageBatch: all entries together
SQS_DEFAULT_MESSAGE_BYTES = 256 * 1024  # MaximumMessageSize unless the queue sets another
_PART_ENVELOPE_BYTES = 4096  # room for reason, source and part fields beside the data
# Characters SQS refuses in a message body (it allows #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000+).
_SQS_FORBIDDEN = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]"  # compiled on first use: cold start


class Parked(NamedTuple):
    """One permanent failure: why, from where, and the payload (`record` whole, or one `event`)."""

    reason: dict[str, Any]
    source: dict[str, Any]
    payload_key: str
    payload: Any

    def document(self) -> bytes:
        payload = self.payload
        if isinstance(payload, bytes | bytearray):  # a KPL sub-record or gzip member that is not JSON
            payload = {"base64": base64.b64encode(payload).decode()}
        return codec.dumps({**self.reason, "source": self.source, self.payload_key: payload})


class Parker(Protocol):
    def park(self, parked: list[Parked]) -> list[bool]:
        """Stores each one; returns, per item, whether it is stored whole."""
        ...


class SqsParker:
    def __init__(
        self,
        queue_url: str,
        *,
        bucket: str | None = None,
        sqs_client: Any = None,
        s3_client: Any = None,
        max_message_bytes: int | None = None,
    ) -> None:
        self._queue_url = queue_url
        self._bucket = bucket
        self._sqs_client = sqs_client
        self._s3_client = s3_client
        self._max_message_bytes = max_message_bytes

    def park(self, parked: list[Parked]) -> list[bool]:
        limit = self._message_limit()
        # Each parked item becomes one or more SQS messages; it is stored only if all of them are.
        messages: list[str] = []
        owner: list[int] = []
        stored = [True] * len(parked)
        for index, item in enumerate(parked):
            try:
                bodies = self._bodies(item, limit)
            except Exception as exc:  # S3 refused: the record goes back for retry
                logger.warning("could not store an oversized parked message", extra={"error": _describe(exc)})
                stored[index] = False
                continue
            messages.extend(bodies)
            owner.extend([index] * len(bodies))
        for message_ok, index in zip(self._send(messages), owner, strict=True):
            if not message_ok:
                stored[index] = False
        return stored

    def _bodies(self, item: Parked, limit: int) -> list[str]:
        document = item.document()
        text = document.decode()
        if len(document) <= limit and not re.search(_SQS_FORBIDDEN, text):
            return [text]
        if self._bucket is not None and len(document) > limit:
            key = f"parked/{uuid.uuid4()}.json"
            self._s3().put_object(Bucket=self._bucket, Key=key, Body=document, ContentType="application/json")
            return [
                codec.dumps({**item.reason, "source": item.source, "s3": {"bucket": self._bucket, "key": key}}).decode()
            ]
        return _parts(item, document, limit)

    def _send(self, messages: list[str]) -> list[bool]:
        sent = [False] * len(messages)
        for chunk in _chunks(messages):
            entries = [{"Id": str(i), "MessageBody": messages[i]} for i in chunk]
            try:
                answer = self._sqs().send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except Exception as exc:  # botocore's errors, or no credentials: the records go back for retry
                logger.warning("dead-letter queue refused a batch", extra={"error": _describe(exc)})
                continue
            for success in answer.get("Successful", []):
                sent[int(success["Id"])] = True
            for failed in answer.get("Failed", []):
                logger.warning(
                    "dead-letter queue refused a message",
                    extra={"code": failed.get("Code"), "detail": failed.get("Message")},
                )
        return sent

    def _message_limit(self) -> int:
        if self._max_message_bytes is None:
            try:
                attributes = self._sqs().get_queue_attributes(
                    QueueUrl=self._queue_url, AttributeNames=["MaximumMessageSize"]
                )["Attributes"]
                self._max_message_bytes = int(attributes["MaximumMessageSize"])
            except Exception as exc:  # the conservative default still parks everything, in more parts
                logger.warning("cannot read the dead-letter queue's size limit", extra={"error": _describe(exc)})
                return SQS_DEFAULT_MESSAGE_BYTES
        return self._max_message_bytes

    def _sqs(self) -> Any:
        if self._sqs_client is None:
            import boto3  # lazily: cold start does not pay for boto3 unless something is parked

            self._sqs_client = boto3.client("sqs")
        return self._sqs_client

    def _s3(self) -> Any:
        if self._s3_client is None:
            import boto3

            self._s3_client = boto3.client("s3")
        return self._s3_client


def _parts(item: Parked, document: bytes, limit: int) -> list[str]:
    """The document in base64 slices, each a message small enough for the queue."""
    envelope = codec.dumps({**item.reason, "source": item.source})
    room = max(limit - len(envelope) - _PART_ENVELOPE_BYTES, 1024)
    step = room * 3 // 4  # base64 grows by 4/3
    slices = [document[start : start + step] for start in range(0, len(document), step)]
    part_id = str(uuid.uuid4())
    return [
        codec.dumps(
            {
                **item.reason,
                "source": item.source,
                "part": {"id": part_id, "index": index, "count": len(slices)},
                "data": base64.b64encode(piece).decode(),
            }
        ).decode()
        for index, piece in enumerate(slices)
    ]


def _chunks(messages: list[str]) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, message in enumerate(messages):
        length = len(message.encode())
        if current and (len(current) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(index)
        size += length
    if current:
        chunks.append(current)
    return chunks


def _describe(exc: BaseException) -> dict[str, Any]:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return {"type": type(exc).__name__, "code": code, "detail": str(exc)[:300]}


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
                import boto3

                self._s3_client = boto3.client("s3")
            answer = self._s3_client.get_object(Bucket=pointer["bucket"], Key=pointer["key"])
            stored: dict[str, Any] = codec.loads(answer["Body"].read())
            return stored
        return message

    @property
    def incomplete(self) -> list[str]:
        """Ids of part groups still missing pieces."""
        return list(self._parts)
