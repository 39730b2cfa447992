"""When each message first landed (imported into the sink, or parked), on the scaled clock, read as the run goes:
what the drain time after a recovery is measured from. And the dead-letter queues, emptied as the run goes
(queues.QueueCollector), for the accounting."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from localdev.sink import MixpanelSink
from mixpanel_forwarder.parked import failures
from tests.e2e.markers import markers_in
from tests.e2e.outage.clock import ScaledClock
from tests.e2e.queues import QueueCollector, parked_reader, read_parked


class Landings:
    """Reads the sink's new events and applied updates, and the parked documents, each time it steps."""

    def __init__(self, sink: MixpanelSink, parked: QueueCollector, clock: ScaledClock) -> None:
        self.at: dict[str, float] = {}  # marker -> when first seen landed
        self.throttled: float | None = None  # when the sink first answered 429 for its rate limit
        self._sink = sink
        self.parked = parked
        self._clock = clock
        self._events = 0
        self._updates = 0
        self._bodies = 0
        self._reader = parked_reader()

    def step(self) -> bool:
        self.parked.step()
        now = self._clock.now()
        if self.throttled is None and self._sink.stats().get("by_fault", {}).get("rate-limit"):
            self.throttled = now
        events = self._sink.events
        for event in events[self._events :]:
            properties = event.get("properties")
            marker = properties.get("e2e_marker") if isinstance(properties, dict) else None
            if isinstance(marker, str):
                self.at.setdefault(marker, now)
        self._events = len(events)
        updates = self._sink.updates
        for update in updates[self._updates :]:
            for marker in markers_in(update.value):
                self.at.setdefault(marker, now)
        self._updates = len(updates)
        bodies = self.parked.bodies
        for body in bodies[self._bodies :]:
            document = read_parked(self._reader, body)
            for failure in failures(document) if document is not None else []:
                payload = failure.get("record") if "record" in failure else failure.get("event")
                for marker in markers_in(payload):
                    self.at.setdefault(marker, now)
        self._bodies = len(bodies)
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
