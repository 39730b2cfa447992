"""Parking permanent failures in the forwarder's dead-letter queue, with the reason and where they came from.

boto3 is imported on first use only: a forwarder without a dead-letter queue never pays for it.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

from . import codec
from .log import logger

SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 1024 * 1024


class Parker(Protocol):
    def park(self, messages: list[bytes]) -> list[bool]:
        """Stores each message; returns, per message, whether it is safely stored."""
        ...


def parked_message(reason: dict[str, Any], origin: dict[str, Any], payload_key: str, payload: Any) -> bytes:
    """The JSON document a parked message carries: why, from where, and the original payload."""
    if isinstance(payload, bytes | bytearray):  # a KPL sub-record or gzip member that is not JSON
        payload = {"base64": base64.b64encode(payload).decode()}
    return codec.dumps({**reason, "source": origin, payload_key: payload})


class SqsParker:
    def __init__(self, queue_url: str, client: Any = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3  # lazily: cold start does not pay for boto3 unless something is parked

            self._client = boto3.client("sqs")
        return self._client

    def park(self, messages: list[bytes]) -> list[bool]:
        stored = [False] * len(messages)
        for chunk in _chunks(messages):
            entries = [{"Id": str(i), "MessageBody": messages[i].decode()} for i in chunk]
            try:
                answer = self._sqs().send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except Exception as exc:  # botocore's errors, or no credentials: the records go back for retry
                logger.warning(
                    "dead-letter queue refused a batch", extra={"error": type(exc).__name__, "detail": str(exc)[:300]}
                )
                continue
            for success in answer.get("Successful", []):
                stored[int(success["Id"])] = True
            for failed in answer.get("Failed", []):
                logger.warning(
                    "dead-letter queue refused a message",
                    extra={"code": failed.get("Code"), "detail": failed.get("Message")},
                )
        return stored


def _chunks(messages: list[bytes]) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, message in enumerate(messages):
        if current and (len(current) == SQS_BATCH_ENTRIES or size + len(message) > SQS_BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(index)
        size += len(message)
    if current:
        chunks.append(current)
    return chunks
