"""Where every produced message ended: in the sink (an event imported, after dedup; a profile update applied, once
or more), parked (in the forwarder's dead-letter queue), redriven (a source dead-letter queue, or the stream range
named by a Kinesis on-failure record) — or lost. Found by marker (markers.py) wherever it is (queues.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localdev.sink import Update
from tests.e2e.markers import markers_in
from tests.e2e.plan import EXPECTED_FIELD, Kind, Message, Planned

# Valid messages a fault of the sink's own makes the forwarder park, as documented: a refusal (`reject_next`: a
# strict-mode 400 for an event, a status 0 for a lone update) and a 413 on a request of one message.
SINK_REFUSED = "valid, refused by the sink (reject_next)"
SINK_413 = "valid, 413 on a single-event request"
_REJECTED = "rejected by the sink's fault script"
_PROFILE_IDS = frozenset({"$distinct_id", "$group_key", "$group_id"})


@dataclass
class Accounting:
    """Every produced message's final state, by marker, and whatever could not be explained."""

    planned: dict[str, Planned]
    landed: Counter[str] = field(default_factory=Counter)  # marker -> events in the sink, or times applied
    parked: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    redriven: dict[str, str] = field(default_factory=dict)  # marker -> where
    unexplained: list[tuple[Message | None, str]] = field(default_factory=list)  # by kind, where it can be told
    duplicates_dropped: int = 0  # events the sink's dedup dropped

    def state(self, marker: str) -> str:
        """imported > parked > redriven: a redelivered record can leave a message in more than one place."""
        if self.landed[marker]:
            return "imported"
        if self.parked.get(marker):
            return "parked"
        if marker in self.redriven:
            return "redriven"
        return "lost"

    def delivered(self) -> set[str]:
        """The markers of the messages in the sink."""
        return {marker for marker, count in self.landed.items() if count}

    def parked_class(self, marker: str) -> str:
        """Why a parked message was parked: its poison kind (checked against the field named), or why a valid
        one was."""
        planned = self.planned[marker]
        if planned.kind is not Kind.VALID:
            return str(planned.kind)
        documents = self.parked[marker]
        fields = {document.get("field") for document in documents}
        reasons = [str(document.get("reason", "")) for document in documents]
        if fields == {"properties.forced"} or (fields == {"update"} and all(_REJECTED in r for r in reasons)):
            return SINK_REFUSED
        if fields == {"event"} and all("too large for one request" in reason for reason in reasons):
            return SINK_413
        return f"valid, unexpected: {sorted(str(f) for f in fields)}"

    def lost(self, message: Message | None = None) -> list[str]:
        return [m for m, p in self.planned.items() if (message in (None, p.message)) and self.state(m) == "lost"]

    def unexplained_by_kind(self) -> dict[str, int]:
        """How many sink or dead-letter items had no known marker, by the kind they seem to be ("?" when unknown)."""
        counts = Counter({str(message): 0 for message in Message})
        counts.update(str(message) if message is not None else "?" for message, _ in self.unexplained)
        return dict(counts)

    def misfiled_poison(self) -> list[str]:
        """Poison parked under another field than its defect's: a wrong reason is a bug too."""
        wrong = []
        for marker, documents in self.parked.items():
            planned = self.planned.get(marker)
            if planned is None or planned.kind is Kind.VALID:
                continue
            if not any(EXPECTED_FIELD[planned.kind](document.get("field")) for document in documents):
                wrong.append(f"{marker} ({planned.kind}): {[d.get('field') for d in documents]}")
        return wrong

    def parked_more_than_once(self, message: Message) -> int:
        return sum(
            len(documents) - 1
            for marker, documents in self.parked.items()
            if len(documents) > 1 and self.planned[marker].message is message
        )

    def applied_more_than_once(self, message: Message) -> int:
        """Profile updates applied twice or more (resent by the forwarder or delivered again by the platform)."""
        return sum(1 for m, count in self.landed.items() if count > 1 and self.planned[m].message is message)


def account(
    planned: dict[str, Planned],
    sink_events: Iterable[Mapping[str, Any]],
    sink_updates: Iterable[Update],
    duplicates_dropped: int,
    parked_documents: Iterable[dict[str, Any]],
    redriven: Mapping[str, Iterable[str]],
) -> Accounting:
    """Builds the accounting; `redriven` maps a place (e.g. "sqs DLQ") to the markers found there."""
    accounting = Accounting(planned, duplicates_dropped=duplicates_dropped)
    for event in sink_events:
        properties = event.get("properties")
        marker = properties.get("e2e_marker") if isinstance(properties, dict) else None
        if not isinstance(marker, str) or marker not in planned:
            accounting.unexplained.append((Message.EVENT, f"imported event without a known marker: {str(event)[:200]}"))
            continue
        accounting.landed[marker] += 1
    for update in sink_updates:
        kind = Message.USER if isinstance(update.key, str) else Message.GROUP
        known = {marker for marker in markers_in(update.value) if marker in planned}
        if len(known) != 1:
            accounting.unexplained.append((kind, f"applied update without one known marker: {update}"[:300]))
        for marker in known:
            accounting.landed[marker] += 1
    for document in parked_documents:
        payload = document.get("record") if "record" in document else document.get("event")
        known = {marker for marker in markers_in(_carried(payload)) if marker in planned}
        if not known:
            kind = _kind_of(payload)
            accounting.unexplained.append((kind, f"parked document without a known marker: {str(document)[:300]}"))
        for marker in known:
            accounting.parked[marker].append(document)
    for place, found in redriven.items():
        for marker in found:
            if marker in planned:
                accounting.redriven.setdefault(marker, place)
            else:
                accounting.unexplained.append((None, f"{place} holds unknown marker {marker}"))
    return accounting


def _carried(payload: Any) -> Any:
    """What of a parked payload carries its markers: for a profile update, its operation's value, as for the sink's
    updates; its ids may hold another message's marker (a Segment group call's group id: vendors.py)."""
    if isinstance(payload, dict) and not _PROFILE_IDS.isdisjoint(payload):
        return {key: value for key, value in payload.items() if key not in _PROFILE_IDS}
    return payload


def _kind_of(payload: Any) -> Message | None:
    """The kind a parked payload seems to be, as the forwarder tells them apart (None: a whole record)."""
    if not isinstance(payload, dict) or "body" in payload or "kinesis" in payload:
        return None
    if "$distinct_id" in payload:
        return Message.USER
    if "$group_key" in payload or "$group_id" in payload:
        return Message.GROUP
    return Message.EVENT
