"""Vendors' messages for the end-to-end producers, read under the default PAYLOAD_FORMAT=auto: Segment-spec calls
(Segment's libraries, RudderStack's) and Amplitude's export JSON, made from localdev.eventgen's samples with this
run's ids, times and markers, and what each becomes in Mixpanel (docs/formats.md, "Segment spec", "Amplitude").

The marker goes where the mapping carries it to Mixpanel: a track's or page's `properties` and an Amplitude event's
`event_properties` (the event's properties), an identify's traits and an Amplitude `$identify`'s user properties
(the `$set`). A Segment group call makes two messages, a marker each: the group's `$set` carries the first in the
traits; the user's `$union` of the group id carries nothing but that id, so the group is named after the second
(`grp-<marker>`: a group profile per call, changed only by that call's `$set`).

Vendor profiles (`seg-<n>`, `amp-<n>`, `grp-<marker>`) are standard-queue ones in profile_model.py's terms: changed
from every source in no order, and only by `$set` and `$union`, whose outcome no order changes.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localdev.eventgen import (
    SEGMENT_EVENT_SOURCE,
    amplitude_events,
    eventbridge_envelope,
    rudderstack_messages,
    segment_calls,
)
from localdev.eventgen.common import iso_ms
from tests.e2e.plan import MESSAGE_OF_DEFECT, VENDOR_DEFECTS, Kind, Message, PlannedUpdate

# The calls drawn per vendor, by weight, and the Mixpanel messages each becomes (in the forwarder's order).
CALLS: dict[str, dict[str, int]] = {
    "segment": {
        "segment track": 45,
        "segment page": 20,
        "segment identify": 12,
        "rudderstack identify": 5,
        "segment group": 18,
    },
    "amplitude": {"amplitude event": 85, "amplitude identify": 15},
}
MESSAGES_OF_CALL: dict[str, tuple[Message, ...]] = {
    "segment track": (Message.EVENT,),
    "segment page": (Message.EVENT,),
    "segment identify": (Message.USER,),
    "rudderstack identify": (Message.USER,),
    "segment group": (Message.GROUP, Message.USER),
    "amplitude event": (Message.EVENT,),
    "amplitude identify": (Message.USER,),
}
CALL_OF_DEFECT = {
    Kind.SEGMENT_TRACK_NO_ID: "segment track",
    Kind.SEGMENT_IDENTIFY_NO_ID: "segment identify",
    Kind.SEGMENT_GROUP_NO_ID: "segment group",
    Kind.AMPLITUDE_BAD_TIME: "amplitude event",
}
# segment_calls' messages by call.
_SEGMENT_SAMPLE = {"segment page": 0, "segment track": 1, "segment identify": 3, "segment group": 4}
SEGMENT_GROUP_KEY = "$group_id"  # the forwarder's default SEGMENT_GROUP_KEY
# The traits a profile keeps under Mixpanel's reserved names (docs/formats.md, "Segment spec"); groups rename only two.
_USER_TRAITS = {
    "email": "$email",
    "firstName": "$first_name",
    "lastName": "$last_name",
    "name": "$name",
    "username": "$username",
    "phone": "$phone",
    "avatar": "$avatar",
    "createdAt": "$created",
}
_GROUP_TRAITS = {"name": "$name", "createdAt": "$created"}
_SEGMENT_TIMES = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
_AMPLITUDE_TIMES = ("event_time", "client_event_time", "server_received_time", "server_upload_time", "processed_time")
_NOT_TIMES = ("yesterday", "24/11/2025 16:00:05", "Mon Nov 24 16:00:05 2025")

SINGLE = ("object", "plain", "eventbridge")  # the shapes of a vendor's record that hold one message

Made = tuple[dict[str, Any], dict[str, PlannedUpdate]]  # the message, and the valid updates it makes by marker
Mark = Callable[[Kind, Message, str], str]  # the producer's next marker, for a message of a kind and a call


class VendorMaker:
    """Draws vendors' messages from `rng`, their times within the three days before `now_s`."""

    def __init__(self, rng: random.Random, now_s: int, *, users: int) -> None:
        self._rng = rng
        self._now_s = now_s
        self._users = users
        self._n = 0  # the samples' index: their anonymous and device ids vary with it

    def record(self, shape: str, vendor: str, mark: Mark, poison_rate: float) -> tuple[str, dict[str, PlannedUpdate]]:
        """A record of `vendor`'s messages and the valid updates they make: one message, in an EventBridge envelope
        as Segment's destination puts it on the bus, or NDJSON lines, as Firehose and Amplitude's stream
        destination batch them."""
        rng = self._rng
        messages, updates = [], {}
        for _ in range(1 if shape in SINGLE else rng.randint(2, 25)):
            if rng.random() < poison_rate:
                kind = rng.choice(VENDOR_DEFECTS[vendor])
                messages.append(self.poison(kind, mark(kind, MESSAGE_OF_DEFECT[kind], CALL_OF_DEFECT[kind])))
                continue
            calls = CALLS[vendor]
            call = rng.choices(list(calls), weights=list(calls.values()))[0]
            made, planned = self.valid(call, [mark(Kind.VALID, kind, call) for kind in MESSAGES_OF_CALL[call]])
            messages.append(made)
            updates.update(planned)
        if shape == "eventbridge":
            [one] = messages
            text = eventbridge_envelope(one, index=self._n, detail_type=one["type"], source=SEGMENT_EVENT_SOURCE)
            return text, updates
        lines = [json.dumps(one, separators=(",", ":")) for one in messages]
        return "\n".join(lines) + ("" if shape in SINGLE else "\n"), updates

    def valid(self, call: str, markers: list[str]) -> Made:
        """A valid `call`, its messages carrying `markers` (one per message it becomes)."""
        if call.startswith("amplitude"):
            return self._amplitude(call, markers[0])
        rng = self._rng
        user = f"seg-{rng.randrange(self._users)}"
        if call == "rudderstack identify":  # RudderStack's web SDK keeps the traits in context.traits
            message = self._segment_sample(rudderstack_messages(self._next())[3], user)
            traits = message["context"]["traits"]
            traits["e2e_marker"] = markers[0]
            values = {**_from_context(message["context"]), **_renamed(traits)}
            return message, {markers[0]: PlannedUpdate(user, "$set", values, message["request_ip"])}
        message = self._segment_sample(segment_calls(self._next())[_SEGMENT_SAMPLE[call]], user)
        if call == "segment identify":
            if rng.random() < 0.2:
                del message["context"]["ip"]  # then "0": the profile is not placed where the function runs
            message["traits"]["e2e_marker"] = markers[0]
            values = {**_from_context(message["context"]), **_renamed(message["traits"])}
            update = PlannedUpdate(user, "$set", values, message["context"].get("ip"))
            return message, {markers[0]: update}
        if call == "segment group":
            group_marker, member_marker = markers
            group_id = f"grp-{member_marker}"
            message["groupId"] = group_id
            message["traits"]["e2e_marker"] = group_marker
            group = PlannedUpdate((SEGMENT_GROUP_KEY, group_id), "$set", _renamed(message["traits"], _GROUP_TRAITS))
            member = PlannedUpdate(user, "$union", {SEGMENT_GROUP_KEY: [group_id]})
            return message, {group_marker: group, member_marker: member}
        if call == "segment track" and rng.random() < 0.3:
            del message["userId"]  # an anonymous visitor's: distinct_id is the anonymousId
        message["properties"]["e2e_marker"] = markers[0]
        return message, {}

    def poison(self, kind: Kind, marker: str) -> dict[str, Any]:
        """A vendor's message with exactly one defect, the field it is refused on known in advance."""
        if kind is Kind.AMPLITUDE_BAD_TIME:
            message, _ = self._amplitude("amplitude event", marker)
            message["event_time"] = self._rng.choice(_NOT_TIMES)  # present, so never skipped for the next time
            return message
        call = CALL_OF_DEFECT[kind]
        message = self._segment_sample(segment_calls(self._next())[_SEGMENT_SAMPLE[call]], None)
        message.pop("userId", None)
        message.pop("anonymousId", None)
        message["messageId"] = str(self._uuid())  # what still makes it a Segment message, without the ids
        message["properties" if call == "segment track" else "traits"]["e2e_marker"] = marker
        return message

    # --- the samples, made this run's ---------------------------------------------------------------------------

    def _segment_sample(self, message: dict[str, Any], user: str | None) -> dict[str, Any]:
        """A sample with this run's user, a unique messageId (in the styles Segment's libraries use, or none) and
        times: all four, or without `timestamp` (`originalTimestamp` stands in), or none (the envelope's)."""
        rng = self._rng
        if user is not None and "userId" in message:
            message["userId"] = user
        style = rng.random()
        if style < 0.5:
            message["messageId"] = f"ajs-next-{self._uuid().hex}"  # over Mixpanel's 36: an $insert_id derived from it
        elif style < 0.8:
            message["messageId"] = str(self._uuid()).upper()  # analytics-swift's, taken as it is
        elif style < 0.9:
            message["messageId"] = f"node-next-{self._now_s * 1000}-{self._uuid()}"
        else:
            del message["messageId"]  # an $insert_id derived from where the message sits in its record
        at_ms = (self._now_s - rng.randint(60, 3 * 86_400)) * 1000 + rng.randrange(1000)
        for offset, name in enumerate(_SEGMENT_TIMES):
            message[name] = iso_ms(at_ms + 100 * offset)
        times = rng.random()
        if times < 0.1:
            del message["timestamp"]
        elif times < 0.15:
            for name in _SEGMENT_TIMES:
                del message[name]
        return message

    def _amplitude(self, call: str, marker: str) -> Made:
        rng = self._rng
        user = f"amp-{rng.randrange(self._users)}"
        samples = amplitude_events(self._next())
        message = samples[3] if call == "amplitude identify" else samples[rng.randrange(3)]
        at_ms = (self._now_s - rng.randint(60, 3 * 86_400)) * 1000 + rng.randrange(1000)
        for offset, name in enumerate(_AMPLITUDE_TIMES):
            message[name] = _amplitude_time(at_ms + 300 * offset)
        if rng.random() < 0.1:
            del message["event_time"]  # client_event_time stands in
        message["uuid"] = str(self._uuid())
        if message["$insert_id"] is not None:  # the samples' own are fixed by their index: this run's, unique
            message["$insert_id"] = str(self._uuid()) if rng.random() < 0.7 else f"srv-{marker}-{self._uuid().hex}"
        if message["user_id"] is not None:
            message["user_id"] = user
        if call != "amplitude identify":
            message["event_properties"]["e2e_marker"] = marker
            return message, {}
        if rng.random() < 0.3:
            message["ip_address"] = None
        message["user_properties"]["e2e_marker"] = marker
        update = PlannedUpdate(user, "$set", dict(message["user_properties"]), message["ip_address"])
        return message, {marker: update}

    def _next(self) -> int:
        self._n += 1
        return self._n

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)


def _from_context(context: dict[str, Any]) -> dict[str, Any]:
    """What an identify's context sets on the profile (docs/formats.md): the samples' user agent (Chrome 131
    on a Mac) as Mixpanel's JavaScript SDK names it, and the library's timezone."""
    agent = context["userAgent"]
    assert "Chrome/131.0.0.0" in agent, agent
    assert "Mac OS X" in agent, agent
    found = {"$browser": "Chrome", "$browser_version": "131.0.0.0", "$os": "Mac OS X"}
    if "timezone" in context:
        found["$timezone"] = context["timezone"]
    return found


def _renamed(traits: dict[str, Any], names: dict[str, str] = _USER_TRAITS) -> dict[str, Any]:
    """The profile's properties the traits set: reserved ones renamed, and a user's `$name` from the first and last
    names when the traits give none."""
    properties = {names.get(key, key): value for key, value in traits.items()}
    first, last = traits.get("firstName"), traits.get("lastName")
    if names is _USER_TRAITS and "$name" not in properties and isinstance(first, str) and isinstance(last, str):
        properties["$name"] = f"{first} {last}"
    return properties


def _amplitude_time(epoch_ms: int) -> str:
    return f"{datetime.fromtimestamp(epoch_ms / 1000, UTC):%Y-%m-%d %H:%M:%S.%f}"
