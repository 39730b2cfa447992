"""What the sink received: the events it imported (once per dedup key), how many came again, and one RequestLog
per request to any endpoint. Thread-safe: handlers run in threads of their own."""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Iterable, Sequence

from .answers import JsonObject


@dataclasses.dataclass(frozen=True, slots=True)
class RequestLog:
    """What one POST received and how it was answered; `status` is 0 when the connection was reset.

    For /engage and /groups, `events` counts the updates received, `imported` those applied to this project's
    profiles, `failed` those refused, `wrong_token` the valid ones carrying another project's token (Mixpanel
    accepts them into that project), and `answer` the status its body gave (1 or 0; None when the body was not
    Mixpanel's, as after a fault). `bytes_raw` is the body as received there: those endpoints decompress nothing.
    """

    status: int
    events: int
    imported: int
    failed: int
    gzip: bool
    bytes_raw: int
    fault: str | None
    endpoint: str = "/import"
    wrong_token: int = 0
    answer: int | None = None


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
        """The counters GET /stats answers with: /import's at the top, as they always were, then a block for
        each other endpoint that has had a request, under its name without the slash. Each has `by_fault` (requests
        by RequestLog.fault: `rate-limit`, `outage:503`, ...) once one of its requests met a fault."""
        with self._lock:
            by_endpoint: dict[str, list[RequestLog]] = collections.defaultdict(list)
            for request in self._requests:
                by_endpoint[request.endpoint].append(request)
            imports = by_endpoint.pop("/import", [])
            stats: JsonObject = {
                "imported": len(self._events),
                "duplicates": self._duplicates,
                "requests": len(imports),
                "by_status": _by_status(imports),
                **_by_fault(imports),
            }
        for endpoint, requests in sorted(by_endpoint.items()):
            stats[endpoint.lstrip("/")] = _profile_stats(requests)
        return stats


def _by_status(requests: Sequence[RequestLog]) -> dict[str, int]:
    return dict(sorted(collections.Counter(str(r.status) for r in requests).items()))


def _by_fault(requests: Sequence[RequestLog]) -> JsonObject:
    faults = collections.Counter(r.fault for r in requests if r.fault is not None)
    return {"by_fault": dict(sorted(faults.items()))} if faults else {}


def _profile_stats(requests: Sequence[RequestLog]) -> JsonObject:
    """An /engage or /groups block: requests by HTTP status and by the answer's status, and updates by outcome."""
    answers = collections.Counter(str(r.answer) for r in requests if r.answer is not None)
    return {
        "requests": len(requests),
        "by_status": _by_status(requests),
        "by_answer": dict(sorted(answers.items())),
        "updates": sum(r.events for r in requests),
        "applied": sum(r.imported for r in requests),
        "refused": sum(r.failed for r in requests),
        "wrong_token": sum(r.wrong_token for r in requests),
        **_by_fault(requests),
    }
