"""The values that flow through the pipeline: source records, the items decoded from them, and outcomes.

Plain `__slots__` classes rather than dataclasses: each dataclass costs ~0.3 ms to create at import,
and cold start is part of the price.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from .errors import DecodeError


class SourceKind(enum.StrEnum):
    SQS = "sqs"
    SQS_FIFO = "sqs-fifo"
    KINESIS = "kinesis"


# The project's identity API (MIXPANEL_ID_MERGE): simplified, Mixpanel's default for organizations since April
# 2024, or original. It decides how an event without distinct_id is identified and what $identify means.
ID_MERGE_SIMPLIFIED, ID_MERGE_ORIGINAL = "simplified", "original"


# What the messages are written in (PAYLOAD_FORMAT): recognised by shape one by one (auto), or all of one format.
FORMAT_AUTO, FORMAT_MIXPANEL, FORMAT_SEGMENT, FORMAT_AMPLITUDE = "auto", "mixpanel", "segment", "amplitude"
PAYLOAD_FORMATS = (FORMAT_AUTO, FORMAT_MIXPANEL, FORMAT_SEGMENT, FORMAT_AMPLITUDE)


class Kind(enum.StrEnum):
    """What a message is, and so where it goes."""

    EVENT = "event"  # /import
    USER = "user"  # /engage
    GROUP = "group"  # /groups


class SourceRecord:
    """One record of the invocation, as Lambda delivered it.

    `identifier` is what the partial batch response names (SQS messageId, Kinesis sequenceNumber);
    `origin` says where it came from, for parked messages and logs (never the payload itself).
    """

    __slots__ = ("_exact", "identifier", "origin", "raw")

    def __init__(self, identifier: str | None, raw: dict[str, Any], origin: dict[str, Any]) -> None:
        self.identifier = identifier
        self.raw = raw
        self.origin = origin

    def exact_item(self, key: str) -> Item | None:
        """The item with this key as `exact_items` has it, or None when it has none (or fails).

        For the rare item whose numbers orjson may have rounded (see normalize). The record is decoded
        once, however many of its items ask. Items that share a key are one message delivered twice (the
        same SNS MessageId, say), deduplicated by Mixpanel through that key: the first serves.
        """
        try:
            by_key = self._exact
        except AttributeError:
            by_key = {}
            try:
                for item in self.exact_items():
                    by_key.setdefault(item.key, item)
            except (DecodeError, ValueError, RecursionError):
                pass  # the caller finds nothing, and says so
            self._exact: dict[str, Item] = by_key
        return by_key.get(key)

    def exact_items(self) -> list[Item]:
        """The record's items decoded again with `codec.loads_exact`: the same items with the same keys
        in the same order, but every integer exact. Overridden by the sources whose records can be."""
        raise DecodeError("this record cannot be read again")


# An item's default time: epoch milliseconds, none, or a function that works it out when asked (an
# envelope's ISO-8601 timestamp costs ~0.5 us to read, and most events carry their own time).
DefaultTime = int | None | Callable[[], int | None]


class Item:
    """One would-be event decoded from a record.

    `key` is the deterministic source coordinates that a missing `$insert_id` is derived from;
    `default_time_ms` is the envelope's own timestamp, used when the event carries no `time`. The key
    doubles as the item's coordinates (record id, sub-sequence, position) in parked messages.
    When `error` is set the item could not be decoded and `payload` is its raw text.
    """

    __slots__ = ("_default_time", "error", "key", "payload")

    def __init__(self, payload: Any, key: str, default_time_ms: DefaultTime, error: str | None = None) -> None:
        self.payload = payload
        self.key = key
        self._default_time = default_time_ms
        self.error = error

    # A message parked after Mixpanel refused it is replayed as `replay_source.SentItem`: in Mixpanel's shape, and
    # transformed.
    sent = False
    # The keys of the messages to make of it; None: all. A replayed item some of whose messages were imported when it
    # was parked names the others (`replay_source.PartItem`), so that what Mixpanel took is never sent again.
    message_keys: frozenset[str] | None = None

    @property
    def default_time_ms(self) -> int | None:
        return resolve_time(self._default_time)

    def with_payload(self, payload: Any, key_suffix: str = "") -> Item:
        """This item holding another payload (a message a format made of it); a suffix tells apart the keys of
        several made of one."""
        return Item(payload, self.key + key_suffix, lambda: self.default_time_ms, self.error)  # read when needed

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Item) and (self.payload, self.key, self.default_time_ms, self.error) == (
            other.payload,
            other.key,
            other.default_time_ms,
            other.error,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return f"Item(key={self.key!r}, error={self.error!r})"  # never the payload


def resolve_time(time: DefaultTime) -> int | None:
    return time() if callable(time) else time


EXCERPT_CHARS = 40


def clip(text: str, limit: int) -> str:
    """`text` if it is at most `limit` characters, else its start and an ellipsis, `limit` in all."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A value as a reason may quote it: at most `limit` characters, clipped with an ellipsis."""
    kind = type(value)
    if kind is str:
        text = repr(value[:limit])  # clipped before repr: a 300 KB string is not copied whole
        clipped = len(value) > limit
    elif kind is int and value.bit_length() > 4 * limit:  # str() of a huge int is slow, and refused past 4300 digits
        return f"an integer of {value.bit_length()} bits"
    elif kind is int or kind is float or kind is bool or value is None:
        text, clipped = str(value), False
    else:
        return f"a {kind.__name__}"  # never the repr of a container: that would be the payload
    return text[: limit - 1] + "…" if clipped else clip(text, limit)


def key_name(key: Any) -> str:
    """A key as a field may name it, clipped like an excerpt (unquoted): keys come from the payload too."""
    return clip(key if type(key) is str else str(key), EXCERPT_CHARS)


def field_path(parent: str, key: Any) -> str:
    """`parent.key`, the key clipped."""
    return f"{parent}.{key_name(key)}"


class State(enum.IntEnum):
    """Where a message ends. Every message ends in exactly one of the final four; FILTERED is a user's rule's
    (TRANSFORMS), never an error: counted, never sent, parked or retried."""

    PENDING = 0
    IMPORTED = 1
    PARKED = 2
    RETRY = 3
    FILTERED = 4


class Stage(enum.StrEnum):
    """Why something is refused for good: it cannot be decoded, it fails validation before sending, or
    Mixpanel refused it (strict-mode 400, or 413 for a single event). A failure without one is transient."""

    DECODE = "decode"
    INVALID = "invalid"
    REFUSED = "refused"
    # A whole SQS record, never decoded or not imported (redelivery.py): it came back more often than its backoff
    # explains (the function never answered for it), or transient failures lasted until its queue would delete it.
    CRASH_LOOP = "crash_loop"
    RETENTION = "retention"


class Failure:
    """Why an event or record was not imported; a failure with a `stage` is permanent: parked, never retried."""

    __slots__ = ("field", "reason", "stage")

    def __init__(self, reason: str, field: str | None = None, stage: Stage | None = None) -> None:
        self.reason = reason
        self.field = field
        self.stage = stage

    @property
    def permanent(self) -> bool:
        return self.stage is not None

    def __repr__(self) -> str:
        return f"Failure({self.reason!r}, field={self.field!r}, stage={self.stage!r})"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.field is not None:
            out["field"] = self.field
        return out
