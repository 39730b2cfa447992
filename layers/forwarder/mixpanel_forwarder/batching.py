"""Requests of at most `max_events` events and `max_bytes` of uncompressed JSON body.

Each batch is one growing buffer, `[e1,e2,…`, into which events arrive either one by one or as whole
encoded runs of events (one encoder call for dozens of events costs far less than one per event). No
per-event byte strings stay alive (thousands of ~500-byte allocations make glibc trim and fault its
heap, which cost several times the encoding itself); the rare paths that need one event's JSON again
(splitting a request, matching a refusal) read the batch back.

A run is taken only where adding its events one by one would have put them all in the current batch (or
in the next, after a full one): batches are cut at the same events either way.
"""

from __future__ import annotations

from . import codec
from .model import Kind


class Batch:
    """Messages of one request: their kind (which destination), their positions in the invocation's table,
    their JSON, and for profile updates the profile each one changes (`keys`, in the same order)."""

    __slots__ = ("_bodies", "_buffer", "_starts", "indices", "keys", "kind")

    def __init__(self, kind: Kind = Kind.EVENT) -> None:
        self.kind = kind
        self.indices: list[int] = []
        self.keys: list[str] | None = None if kind is Kind.EVENT else []
        self._buffer = bytearray(b"[")  # each event followed by a comma: the last becomes "]" when sent
        self._starts: list[int] = []  # profile batches only: where each message starts in the buffer
        self._bodies: list[bytes] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def size(self) -> int:
        """Bytes of the finished JSON array (the trailing comma becomes the closing bracket)."""
        return len(self._buffer) if self.indices else 2

    def add(self, index: int, body: bytes, key: str | None = None) -> None:
        self.indices.append(index)
        if self.keys is not None:
            self.keys.append(key or "")
            self._starts.append(len(self._buffer))
        self._buffer += body
        self._buffer += b","

    def add_run(self, indices: list[int], array: bytes) -> None:
        """The events of one encoded JSON array (`[e1,e2]`, non-empty), in order."""
        self.indices += indices
        buffer = self._buffer
        buffer += memoryview(array)[1:]
        buffer[-1] = 0x2C  # the array's "]" becomes the comma that follows its last event

    def payload(self) -> bytes:
        """The request body: the batch is closed, nothing more is added to it."""
        if not self.indices:
            return b"[]"
        self._buffer[-1] = 0x5D  # "]": no copy of a body of up to a few megabytes
        return self._buffer  # type: ignore[return-value]  # a bytearray: read, never changed, from here on

    def opened_with(self, opening: bytes) -> bytes:
        """A profile batch's JSON array with the `{` that opens each message (a JSON object, never empty) replaced by
        `opening`, e.g. `{"$token":"…",`: read from the buffer by position, never by searching its bytes."""
        assert self.keys is not None  # only profile batches keep where each message starts
        if not self.indices:
            return b"[]"
        view = memoryview(self._buffer)
        ends = [*self._starts[1:], len(view)]  # each message is followed by its comma (the last by "," or "]")
        parts: list[bytes | memoryview] = [b"["]
        for start, end in zip(self._starts, ends, strict=True):
            parts += (opening, view[start + 1 : end - 1], b",")
        parts[-1] = b"]"
        return b"".join(parts)

    def body(self, position: int) -> bytes:
        """One event's JSON, read back from the batch (rare: a refusal or a split needs it)."""
        if self._bodies is None:
            closed = bytes(self._buffer[:-1]) + b"]" if self.indices else b"[]"
            self._bodies = [codec.dumps(event) for event in codec.loads(closed)]
        return self._bodies[position]

    def key(self, position: int) -> str | None:
        return self.keys[position] if self.keys is not None else None

    def split(self) -> tuple[Batch, Batch]:
        half = len(self.indices) // 2
        return self.select(range(half)), self.select(range(half, len(self.indices)))

    def select(self, positions: range | list[int]) -> Batch:
        """A batch of the same kind with the messages at `positions`, in that order."""
        chosen = Batch(self.kind)
        for position in positions:
            chosen.add(self.indices[position], self.body(position), self.key(position))
        return chosen


class Batcher:
    """Fills batches in arrival order and hands each one out as soon as the next event would not fit."""

    def __init__(self, max_events: int, max_bytes: int, kind: Kind = Kind.EVENT, added: int = 0) -> None:
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._kind = kind
        self._added = added  # bytes each message gains when encoded (a profile update: the project token)
        self._current = Batch(kind)

    def add(self, index: int, body: bytes, key: str | None = None) -> Batch | None:
        """Adds one message; returns the batch it closed, if any. A message larger than the cap goes alone."""
        current = self._current
        full = None
        count = len(current.indices)
        if count and (
            count >= self._max_events
            or len(current._buffer) + len(body) + 1 + self._added * (count + 1) > self._max_bytes
        ):
            full, current = current, Batch(self._kind)
            self._current = current
        current.add(index, body, key)
        return full

    def room(self) -> int:
        """How many events the batch being filled can still take (a full one is followed by an empty one)."""
        count = len(self._current.indices)
        return self._max_events - count if count < self._max_events else self._max_events

    def add_run(self, indices: list[int], array: bytes) -> tuple[bool, Batch | None]:
        """Adds the events of an encoded array if `add` would have put them all in one batch, one by one:
        (True, the full batch closed first, if any). (False, None), adding nothing, when they would not."""
        current = self._current
        count = len(current.indices)
        closing = count >= self._max_events  # full: the next event starts a new batch
        if closing:
            count = 0
        if count + len(indices) > self._max_events:
            return False, None
        # One by one, the last event fits iff the buffer with every body and its comma is within the cap
        # (the array holds the bodies, the commas between them and two brackets); the first event of an
        # empty batch always goes in, even alone over the cap.
        size = 1 if count == 0 else len(current._buffer)
        if size + len(array) - 1 > self._max_bytes and (count or len(indices) > 1):
            return False, None
        full = None
        if closing:
            full, current = current, Batch(self._kind)
            self._current = current
        current.add_run(indices, array)
        return True, full

    def flush(self) -> Batch | None:
        current, self._current = self._current, Batch(self._kind)
        return current if current.indices else None
