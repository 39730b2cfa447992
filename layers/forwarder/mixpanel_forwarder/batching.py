"""Requests of at most `max_events` events and `max_bytes` of uncompressed JSON body.

Each batch is encoded straight into one growing buffer, `[e1,e2,…`, with the end offset of every event
kept beside it: no per-event byte strings stay alive (thousands of ~500-byte allocations make glibc
trim and fault its heap, which cost several times the encoding itself), yet any one event can still be
cut out again to split a request or to match a refusal.
"""

from __future__ import annotations


class Batch:
    """Events of one request: their positions in the invocation's event table, and their JSON."""

    __slots__ = ("_buffer", "_ends", "indices")

    def __init__(self) -> None:
        self.indices: list[int] = []
        self._buffer = bytearray(b"[")
        self._ends: list[int] = []  # offset just past each event's JSON in the buffer

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def size(self) -> int:
        """Bytes of the finished JSON array (the trailing comma becomes the closing bracket)."""
        return len(self._buffer) if self.indices else 2

    def add(self, index: int, body: bytes) -> None:
        self.indices.append(index)
        self._buffer += body
        self._ends.append(len(self._buffer))
        self._buffer += b","

    def payload(self) -> bytes:
        if not self.indices:
            return b"[]"
        return bytes(memoryview(self._buffer)[:-1]) + b"]"

    def body(self, position: int) -> bytes:
        start = self._ends[position - 1] + 1 if position else 1
        return bytes(self._buffer[start : self._ends[position]])

    def split(self) -> tuple[Batch, Batch]:
        half = len(self.indices) // 2
        first, second = Batch(), Batch()
        for position, index in enumerate(self.indices):
            (first if position < half else second).add(index, self.body(position))
        return first, second


class Batcher:
    """Fills batches in arrival order and hands each one out as soon as the next event would not fit."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._current = Batch()

    def add(self, index: int, body: bytes) -> Batch | None:
        """Adds one event; returns the batch it closed, if any. An event larger than the cap goes alone."""
        current = self._current
        full = None
        count = len(current.indices)
        if count and (count >= self._max_events or len(current._buffer) + len(body) + 1 > self._max_bytes):
            full, current = current, Batch()
            self._current = current
        # Batch.add, inlined: this runs for every event.
        current.indices.append(index)
        buffer = current._buffer
        buffer += body
        current._ends.append(len(buffer))
        buffer += b","
        return full

    def flush(self) -> Batch | None:
        current, self._current = self._current, Batch()
        return current if current.indices else None
