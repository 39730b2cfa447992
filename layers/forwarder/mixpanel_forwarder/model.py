"""The values that flow through the pipeline: source records, the items decoded from them, and outcomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class SourceKind(enum.StrEnum):
    SQS = "sqs"
    SQS_FIFO = "sqs-fifo"
    KINESIS = "kinesis"


@dataclass(slots=True)
class SourceRecord:
    """One record of the invocation, as Lambda delivered it.

    `identifier` is what the partial batch response names (SQS messageId, Kinesis sequenceNumber);
    `origin` says where it came from, for parked messages and logs (never the payload itself).
    """

    identifier: str | None
    raw: dict[str, Any]
    origin: dict[str, Any]


@dataclass(slots=True)
class Item:
    """One would-be event decoded from a record.

    `key` is the deterministic source coordinates that a missing `$insert_id` is derived from;
    `default_time_ms` is the envelope's own timestamp, used when the event carries no `time`. The key
    doubles as the item's coordinates (record id, sub-sequence, position) in parked messages.
    When `error` is set the item could not be decoded and `payload` is its raw text.
    """

    payload: Any
    key: str
    default_time_ms: int | None
    error: str | None = None


class Invalid(Exception):
    """An event Mixpanel would refuse: `field` and `message` say why, like a strict-mode answer."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class State(enum.IntEnum):
    """Where an event ends. Every event ends in exactly one of the final three."""

    PENDING = 0
    IMPORTED = 1
    PARKED = 2
    RETRY = 3


@dataclass(slots=True)
class Failure:
    """Why an event or record was not imported; `permanent` failures are parked, never retried in a loop."""

    reason: str
    field: str | None = None
    permanent: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.field is not None:
            out["field"] = self.field
        return out
