"""Requests of at most `max_events` events and `max_bytes` of uncompressed JSON body."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Batch:
    """Events of one request: their positions in the invocation's event table and their JSON."""

    indices: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    size: int = 2  # bytes of the JSON array: brackets, events and the commas between them

    def __len__(self) -> int:
        return len(self.indices)

    def payload(self) -> bytes:
        return b"[" + b",".join(self.bodies) + b"]"

    def split(self) -> tuple[Batch, Batch]:
        half = len(self.indices) // 2
        return _batch(self.indices[:half], self.bodies[:half]), _batch(self.indices[half:], self.bodies[half:])


def _batch(indices: list[int], bodies: list[bytes]) -> Batch:
    return Batch(indices, bodies, 2 + sum(map(len, bodies)) + max(len(bodies) - 1, 0))


class Batcher:
    """Fills batches in arrival order and hands each one out as soon as the next event would not fit."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._current = Batch()

    def add(self, index: int, body: bytes) -> Batch | None:
        """Adds one event; returns the batch it closed, if any. An event larger than the cap goes alone."""
        current = self._current
        grown = current.size + len(body) + (1 if current.indices else 0)
        full = None
        if current.indices and (len(current.indices) >= self._max_events or grown > self._max_bytes):
            full, current = current, Batch()
            self._current = current
            grown = current.size + len(body)
        current.indices.append(index)
        current.bodies.append(body)
        current.size = grown
        return full

    def flush(self) -> Batch | None:
        current, self._current = self._current, Batch()
        return current if current.indices else None
