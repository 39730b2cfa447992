"""The sink's API: routes each request to its endpoint and answers it as Mixpanel would, after any fault, logging
every ingestion request in the ledger. GET /events and /stats show what was received."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from . import faults, imports
from .answers import Answer, error, json_answer, too_large
from .codec import dumps
from .faults import FaultScript
from .ledger import Ledger, RequestLog
from .rules import Account, Body, authorized, decode_body, param


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Mixpanel's per-request limits: events, and uncompressed bytes."""

    max_events: int
    max_bytes: int


class MixpanelApi:
    """Answers the handler's requests (the App it serves); MixpanelSink owns the ledger and the fault script."""

    def __init__(
        self, account: Account, limits: Limits, clock: Callable[[], float], ledger: Ledger, script: FaultScript
    ) -> None:
        self._account = account
        self._limits = limits
        self._clock = clock
        self._ledger = ledger
        self._faults = script

    def get(self, path: str) -> Answer:
        if path == "/events":
            return Answer(200, dumps(self._ledger.events))
        if path == "/stats":
            return json_answer(200, self._ledger.stats())
        return error(404, "not found")

    def post(self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> Answer:
        if path != "/import":
            return error(404, "not found")
        return self._import(query, headers, body)

    def _import(self, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> Answer:
        """Answer one POST /import like Mixpanel, after any scripted or random fault, and log it."""
        gzipped = headers.get("content-encoding", "").strip().lower() == "gzip"
        decoded = decode_body(
            body, headers.get("content-encoding", ""), headers.get("content-type", ""), self._limits.max_bytes
        )
        count = len(decoded.events) if decoded.events is not None else 0
        log = RequestLog(0, count, 0, 0, gzipped, decoded.raw_bytes, None)

        faulted = self._faults.take(count)
        if faulted is not None:
            answer, kind = faulted
            if answer.drip is None:
                return self._log(dataclasses.replace(log, fault=kind), answer)
            # A drip is Mixpanel's own answer, only slow: the import below is real.
            slow = self._answer(query, headers, decoded, dataclasses.replace(log, fault=kind))
            return dataclasses.replace(slow, drip=answer.drip)
        return self._answer(query, headers, decoded, log)

    def _answer(self, query: dict[str, list[str]], headers: dict[str, str], decoded: Body, log: RequestLog) -> Answer:
        """Mixpanel's own answer: auth, limits, strict validation and dedup."""
        count = log.events
        if not authorized(self._account, headers.get("authorization", ""), param(query, "project_id")):
            return self._log(log, error(401, "Invalid credentials", 0))
        if decoded.too_large:
            return self._log(log, too_large(self._limits.max_bytes))
        if decoded.events is None:  # a corrupt gzip body lands here too: it is never too large
            return self._log(log, error(400, decoded.error or "unable to read the body"))
        if count > self._limits.max_events:
            return self._log(log, error(400, "too many events"))

        now = self._clock()
        checked = [imports.validate(index, event, now) for index, event in enumerate(decoded.events)]
        rejected = count > 0 and log.fault is None and self._faults.take_reject()
        if rejected:
            checked[0] = (faults.rejected(decoded.events[0]), None)
        failed = [entry for entry, _ in checked if entry is not None]
        accepted = [(event, key) for event, (_, key) in zip(decoded.events, checked, strict=True) if key is not None]
        strict = param(query, "strict") == "1"
        answer = imports.imported_answer(len(accepted), failed, report_failures=strict or rejected)
        fault = "reject" if rejected else log.fault
        entry = dataclasses.replace(log, status=answer.status, imported=len(accepted), failed=len(failed), fault=fault)
        self._ledger.record(entry, accepted)
        return answer

    def _log(self, entry: RequestLog, answer: Answer) -> Answer:
        self._ledger.log(dataclasses.replace(entry, status=answer.status))
        return answer
