"""When each message first landed, on the scaled clock, for the drain time after a recovery and the goodput: noted by
the sink itself as it imports an event or applies an update (its ledger's and profile store's methods, wrapped for the
run), so that no polling delay counts; for a parked message, when the forwarder parked it (its SentTimestamp in the
parked-events queue). And when the sink's rate limit first refused a request. The dead-letter queues are emptied as
the run goes (as queues.QueueCollector does), for the accounting."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

import pytest

from localdev.sink.ledger import Ledger
from localdev.sink.profile_state import ProfileStore
from localdev.sink.profiles import Update
from localdev.sink.rate_limit import RateLimiter
from mixpanel_forwarder.parked import failures
from tests.e2e.markers import markers_in
from tests.e2e.outage.clock import ScaledClock
from tests.e2e.queues import parked_reader, read_parked, receive_everything


class Landings:
    def __init__(self, sqs: Any, parked_url: str, clock: ScaledClock) -> None:
        self.at: dict[str, float] = {}  # marker -> when it first landed
        self.throttled: float | None = None  # when the rate limit first refused a request
        self.bodies: list[str] = []  # the parked-events queue's messages, in the order received
        self._sqs = sqs
        self._parked_url = parked_url
        self._clock = clock
        self._reader = parked_reader()
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        record, apply, admit = Ledger.record, ProfileStore.apply, RateLimiter.admit
        landed = self._landed

        def recorded(ledger: Ledger, entry: Any, imported: Iterable[tuple[Any, Any]]) -> None:
            items = list(imported)
            markers = (event.get("properties", {}).get("e2e_marker") for event, _ in items)
            landed([marker for marker in markers if isinstance(marker, str)])
            record(ledger, entry, items)

        def applied(store: ProfileStore, updates: Iterable[Update]) -> None:
            items = list(updates)
            landed([marker for update in items for marker in markers_in(update.value)])
            apply(store, items)

        def admitted(limiter: RateLimiter, endpoint: str, events: int, size: int) -> bool:
            taken = admit(limiter, endpoint, events, size)
            if not taken and self.throttled is None:
                self.throttled = self._clock.now()
            return taken

        monkeypatch.setattr(Ledger, "record", recorded)
        monkeypatch.setattr(ProfileStore, "apply", applied)
        monkeypatch.setattr(RateLimiter, "admit", admitted)

    def _landed(self, markers: list[str], at: float | None = None) -> None:
        now = self._clock.now() if at is None else at
        with self._lock:
            for marker in markers:
                self.at.setdefault(marker, now)

    def step(self) -> bool:
        """Empties the parked-events queue, noting when each message in it was parked."""
        for message in receive_everything(self._sqs, self._parked_url, delete=True):
            body: str = message["Body"]
            self.bodies.append(body)
            document = read_parked(self._reader, body)
            parked_at = int(message["Attributes"]["SentTimestamp"]) / 1000
            for failure in failures(document) if document is not None else []:
                payload = failure.get("record") if "record" in failure else failure.get("event")
                self._landed(sorted(markers_in(payload)), parked_at)
        return False

    def done(self) -> bool:
        return True


def dead_letter_markers(bodies: list[str], s3: Any) -> set[str]:
    """The markers in dead-letter messages; one that is an S3 notification (a Kinesis batch Lambda put in the
    on-failure bucket) is followed to its object."""
    found: set[str] = set()
    for body in bodies:
        found |= markers_in(body)
        for bucket, key in _s3_objects(body):
            document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            payload = document.get("payload")  # the invocation's event as JSON text, per AWS (an object, per some)
            found |= markers_in(json.loads(payload) if isinstance(payload, str) else payload)
    return found


def _s3_objects(body: str) -> list[tuple[str, str]]:
    try:
        event = json.loads(body)
    except ValueError:
        return []
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return []
    objects = []
    for record in event["Records"]:
        s3 = record.get("s3") if isinstance(record, dict) else None
        if isinstance(s3, dict):
            objects.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
    return objects
