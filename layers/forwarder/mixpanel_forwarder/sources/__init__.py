"""Decoding: Lambda event sources into source records, and record payloads into items.

A source is a module (sqs, kinesis) with the members of `Source`; the pipeline calls nothing else of it.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..model import Item, SourceKind, SourceRecord


class Source(Protocol):
    NAME: str  # "sqs" or "kinesis": the metrics dimension, known even when the event cannot be read

    def source_records(self, event: Any) -> tuple[SourceKind, list[SourceRecord]]:
        """The invocation's records, and which kind of source sent them (FIFO queues are reported apart)."""
        ...

    def decode(self, record: SourceRecord) -> list[Item]:
        """The record's items, in order; DecodeError when nothing of it can be read."""
        ...
