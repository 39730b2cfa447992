"""What the end-to-end producers send, and the truth about every message: its kind (event, user or group
update), whether it is valid or its one defect, where it went, and for a profile update the profile it changes.

Profiles are named for what the run can assert about them (see profile_model.py): `fifo-<group>` and
`kin-<n>` are changed only by records of one FIFO message group or one Kinesis partition key, so their
updates arrive in order; `std-<n>` by records of the standard queue, in no order; `counter-<n>` only by
`$add` and `$append`, which count twice when applied twice.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

GROUP_KEY = "company_id"

UserKey = str
GroupKey = tuple[str, str]
ProfileKey = UserKey | GroupKey  # as the sink keys its profiles


class Message(enum.StrEnum):
    """What a produced message is, and so where the forwarder sends it."""

    EVENT = "events"
    USER = "user updates"
    GROUP = "group updates"


class Kind(enum.StrEnum):
    """What a produced message is: valid, or the one defect that makes it poison."""

    VALID = "valid"
    BAD_JSON = "bad JSON"
    # Events
    NO_NAME = "missing event name"
    TOO_OLD = "time before 1971"
    PLACEHOLDER_ID = "placeholder distinct_id"
    BAD_INSERT_ID = "bad $insert_id"
    TOO_MANY_PROPERTIES = "more than 255 properties"
    TOO_DEEP = "nested deeper than 3"
    OVER_1MIB = "event of 1 MiB or more"
    # Profile updates
    TWO_OPERATIONS = "two operations"
    ADD_STRING = "$add of a string"
    PLACEHOLDER_DISTINCT_ID = "placeholder $distinct_id"
    NO_GROUP_KEY = "group update without $group_key"
    GROUP_ADD = "$add on a group"
    # Vendors' messages (vendors.py), refused before they become Mixpanel's: parked as they arrived
    SEGMENT_TRACK_NO_ID = "Segment track without userId or anonymousId"
    SEGMENT_IDENTIFY_NO_ID = "Segment identify without userId or anonymousId"
    SEGMENT_GROUP_NO_ID = "Segment group without userId or anonymousId"
    AMPLITUDE_BAD_TIME = "Amplitude event_time not a time"


# The field a parked document names for each poison kind (Mixpanel's own field names, not our wording).
EXPECTED_FIELD: dict[Kind, Callable[[str | None], bool]] = {
    Kind.BAD_JSON: lambda f: f == "record",
    Kind.NO_NAME: lambda f: f == "event",
    Kind.TOO_OLD: lambda f: f == "properties.time",
    Kind.PLACEHOLDER_ID: lambda f: f == "properties.distinct_id",
    Kind.BAD_INSERT_ID: lambda f: f == "properties.$insert_id",
    Kind.TOO_MANY_PROPERTIES: lambda f: f == "properties",
    Kind.TOO_DEEP: lambda f: f is not None and f.startswith("properties.nested"),
    Kind.OVER_1MIB: lambda f: f == "event",
    Kind.TWO_OPERATIONS: lambda f: f == "operation",
    Kind.ADD_STRING: lambda f: f is not None and f.startswith("$add."),
    Kind.PLACEHOLDER_DISTINCT_ID: lambda f: f == "$distinct_id",
    Kind.NO_GROUP_KEY: lambda f: f == "$group_key",
    Kind.GROUP_ADD: lambda f: f == "$add",
    # The vendor's own field, as formats/segment.py and formats/amplitude.py name it.
    Kind.SEGMENT_TRACK_NO_ID: lambda f: f == "userId",
    Kind.SEGMENT_IDENTIFY_NO_ID: lambda f: f == "userId",
    Kind.SEGMENT_GROUP_NO_ID: lambda f: f == "userId",
    Kind.AMPLITUDE_BAD_TIME: lambda f: f == "event_time",
}
# Poison that stays JSON, by the kind of message that carries it.
DEFECTS: dict[Message, tuple[Kind, ...]] = {
    Message.EVENT: (
        Kind.NO_NAME,
        Kind.TOO_OLD,
        Kind.PLACEHOLDER_ID,
        Kind.BAD_INSERT_ID,
        Kind.TOO_MANY_PROPERTIES,
        Kind.TOO_DEEP,
    ),
    Message.USER: (Kind.TWO_OPERATIONS, Kind.ADD_STRING, Kind.PLACEHOLDER_DISTINCT_ID),
    Message.GROUP: (Kind.NO_GROUP_KEY, Kind.GROUP_ADD),
}
# Poison in a vendor's format, by vendor, and the kind of message the forwarder counts each as.
VENDOR_DEFECTS: dict[str, tuple[Kind, ...]] = {
    "segment": (Kind.SEGMENT_TRACK_NO_ID, Kind.SEGMENT_IDENTIFY_NO_ID, Kind.SEGMENT_GROUP_NO_ID),
    "amplitude": (Kind.AMPLITUDE_BAD_TIME,),
}
MESSAGE_OF_DEFECT = {
    **{kind: message for message, kinds in DEFECTS.items() for kind in kinds},
    Kind.SEGMENT_TRACK_NO_ID: Message.EVENT,
    Kind.SEGMENT_IDENTIFY_NO_ID: Message.USER,
    Kind.SEGMENT_GROUP_NO_ID: Message.GROUP,
    Kind.AMPLITUDE_BAD_TIME: Message.EVENT,
}
Draw = tuple[Message, Kind]


def as_draw(kind: Kind | Draw) -> Draw:
    """A message's kind and validity; a Kind alone is an event's, or a profile defect's own kind of update."""
    return kind if isinstance(kind, tuple) else (MESSAGE_OF_DEFECT.get(kind, Message.EVENT), kind)


@dataclass(frozen=True, slots=True)
class Planned:
    """One produced message: where it was sent, in which shape, what it is and whether it is valid; `call` the
    vendor's call it is made of ("segment group": a group update and a user update, a Planned each), or ""."""

    marker: str
    source: str  # "sqs", "sqs-fifo" or "kinesis"
    shape: str
    kind: Kind
    message: Message = Message.EVENT
    call: str = ""


@dataclass(frozen=True, slots=True)
class PlannedUpdate:
    """A valid profile update as produced: the profile it changes, its one operation and that operation's value,
    and its own `$ip` if it has one."""

    profile: ProfileKey
    operation: str
    value: Any
    ip: str | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """The profiles the updates of one record change: the FIFO message group's or the partition key's (ordered),
    or, for the standard queue (None), profiles drawn per update."""

    user: UserKey | None = None
    group_id: str | None = None


@dataclass
class Plan:
    """Everything to send, and the truth about every message in it."""

    events: dict[str, Planned] = field(default_factory=dict)  # every message, by marker, in the order made
    updates: dict[str, PlannedUpdate] = field(default_factory=dict)  # the valid profile updates, by marker
    sqs_bodies: list[str] = field(default_factory=list)
    fifo_messages: list[tuple[str, str, str]] = field(default_factory=list)  # body, group id, dedup id
    kinesis_records: list[tuple[bytes, str]] = field(default_factory=list)  # data, partition key
    sources: Counter[str] = field(default_factory=Counter)  # messages by source

    def add(self, planned: Planned) -> None:
        self.events[planned.marker] = planned
        self.sources[planned.source] += 1

    def count(self, source: str) -> int:
        return self.sources[source]

    def kinds(self) -> Counter[Kind]:
        return Counter(planned.kind for planned in self.events.values())

    def messages(self) -> Counter[Message]:
        return Counter(planned.message for planned in self.events.values())
