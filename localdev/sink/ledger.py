"""What the sink received: the events it imported (once per dedup key), how many came again, and one RequestLog
per request. Thread-safe: handlers run in threads of their own."""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Iterable

from .answers import JsonObject


@dataclasses.dataclass(frozen=True, slots=True)
class RequestLog:
    """What one POST /import received and how it was answered; `status` is 0 when the connection was reset."""

    status: int
    events: int
    imported: int
    failed: int
    gzip: bool
    bytes_raw: int
    fault: str | None


class Ledger:
    """Imported events after dedup, duplicates counted, and the log of requests, all behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[JsonObject] = []
        self._keys: set[tuple[object, ...]] = set()
        self._requests: list[RequestLog] = []
        self._duplicates = 0

    @property
    def events(self) -> list[JsonObject]:
        with self._lock:
            return list(self._events)

    @property
    def requests(self) -> list[RequestLog]:
        with self._lock:
            return list(self._requests)

    @property
    def duplicates(self) -> int:
        with self._lock:
            return self._duplicates

    def log(self, entry: RequestLog) -> None:
        """A request that imported nothing."""
        with self._lock:
            self._requests.append(entry)

    def record(self, entry: RequestLog, imported: Iterable[tuple[JsonObject, tuple[object, ...]]]) -> None:
        """A request and the events it imported, with their dedup keys: one already seen counts as a duplicate."""
        with self._lock:
            for event, key in imported:
                if key in self._keys:
                    self._duplicates += 1
                else:
                    self._keys.add(key)
                    self._events.append(event)
            self._requests.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self._keys.clear()
            self._requests.clear()
            self._duplicates = 0

    def stats(self) -> JsonObject:
        """The counters GET /stats answers with."""
        with self._lock:
            by_status = collections.Counter(str(r.status) for r in self._requests)
            return {
                "imported": len(self._events),
                "duplicates": self._duplicates,
                "requests": len(self._requests),
                "by_status": dict(sorted(by_status.items())),
            }
