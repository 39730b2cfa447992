"""Producers for the end-to-end runs: N messages in every payload shape the forwarder reads (events, user and group
profile updates in the same records), a known share poison, each with a marker found again wherever it ends up
(the sink, the forwarder's dead-letter queue, a source dead-letter queue, the stream behind an on-failure record).

Markers are `e2e` + a two-letter run tag + 7 digits, numbered in the order made: their order in their queue,
message group or shard (events.py and updates.py say where each message keeps it). A FIFO record's updates change
the profiles of its message group, a Kinesis record's those of its partition key, so their order holds.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Sequence
from typing import Any

from localdev.eventgen import cloudwatch_logs_data, eventbridge_envelope, kpl_aggregate, sns_envelope
from tests.e2e.events import EventMaker, bad_bytes, bad_text, huge_event
from tests.e2e.plan import DEFECTS, Draw, Kind, Message, Plan, Planned, Scope, as_draw
from tests.e2e.sending import MIB
from tests.e2e.updates import UpdateMaker
from tests.e2e.vendors import CALL_OF_DEFECT, VendorMaker

SQS_SHAPES = ("object", "array", "ndjson", "sns", "eventbridge")
FIFO_SHAPES = ("object", "array")
KINESIS_SHAPES = ("plain", "array", "ndjson", "gzip", "kpl", "cloudwatch-logs")
MESSAGE_SHARES = (0.7, 0.2)  # events and user updates; the rest are group updates


class Producer:
    """Builds a Plan, deterministically for a seed: the same run tag and seed give the same bytes."""

    def __init__(
        self,
        *,
        tag: str,
        seed: int,
        poison_rate: float,
        now_s: int,
        sqs_max_message_bytes: int,
        fifo_groups: int = 12,
        kinesis_keys: int = 20,
        std_profiles: int = 40,
        counters: int = 6,
        shares: tuple[float, float] = MESSAGE_SHARES,
    ) -> None:
        if len(tag) != 2 or not tag.isalpha() or not tag.islower():
            raise ValueError(f"the run tag must be two lowercase letters, got {tag!r}")
        self.plan = Plan()
        self._tag = tag
        self._rng = random.Random(seed)
        self._events = EventMaker(self._rng, now_s)
        self._updates = UpdateMaker(self._rng, std_profiles=std_profiles, counters=counters)
        self._vendors = VendorMaker(self._rng, now_s, users=std_profiles)
        self._poison_rate = poison_rate
        self._now_s = now_s
        self._sqs_max = sqs_max_message_bytes
        self._fifo_groups = fifo_groups
        self._kinesis_keys = kinesis_keys
        self._shares = shares
        self._n = 0

    # --- messages ------------------------------------------------------------------------------------

    def _marker(self, source: str, shape: str, kind: Kind, message: Message = Message.EVENT, call: str = "") -> str:
        marker = f"e2e{self._tag}{self._n:07d}"
        self._n += 1
        self.plan.add(Planned(marker, source, shape, kind, message, call))
        return marker

    def _message(self) -> Message:
        draw = self._rng.random()
        events, users = self._shares
        return Message.EVENT if draw < events else Message.USER if draw < events + users else Message.GROUP

    def _pick(self, *, bad_json: bool) -> Draw:
        message = self._message()
        if self._rng.random() >= self._poison_rate:
            return message, Kind.VALID
        defects = DEFECTS[message]
        if bad_json and message is Message.EVENT:
            defects = (*defects, Kind.BAD_JSON)
        return message, self._rng.choice(defects)

    def make(self, source: str, shape: str, draw: Draw, scope: Scope | None = None) -> tuple[str, Any]:
        """(marker, message dict) for a JSON kind, (marker, bad text) for BAD_JSON."""
        message, kind = draw
        marker = self._marker(source, shape, kind, message, CALL_OF_DEFECT.get(kind, ""))
        if kind is Kind.BAD_JSON:
            return marker, bad_text(marker)
        if kind in CALL_OF_DEFECT:
            return marker, self._vendors.poison(kind, marker)
        if message is Message.EVENT:
            if kind is Kind.VALID:
                return marker, self._events.valid(marker, self._n)
            return marker, self._events.poison(kind, marker, self._n)
        if kind is Kind.VALID:
            update, planned = self._updates.valid(message, scope, marker)
            self.plan.updates[marker] = planned
            return marker, update
        return marker, self._updates.poison(kind, scope, marker)

    def _messages(
        self,
        source: str,
        shape: str,
        sizes: tuple[int, int],
        *,
        bad_json: bool,
        kinds: Sequence[Kind | Draw] | None,
        scope: Scope | None,
    ) -> list[tuple[Kind, str, Any]]:
        """(kind, marker, message dict or bad text) for the messages of one record: `kinds` if given, else drawn."""
        if kinds is None:
            draws = [self._pick(bad_json=bad_json) for _ in range(self._rng.randint(*sizes))]
        else:
            draws = [as_draw(kind) for kind in kinds]
            if any(kind is Kind.BAD_JSON for _, kind in draws) and not bad_json:
                raise ValueError(f"a {shape} record cannot hold one bad JSON message: break the whole record")
        return [(draw[1], *self.make(source, shape, draw, scope)) for draw in draws]

    def _broken_record(self, source: str, shape: str, count: int, scope: Scope | None) -> list[dict[str, Any]]:
        """Messages for a record that will not decode as a whole: every one of them is BAD_JSON."""
        messages = []
        for _ in range(count):
            message = self._message()
            marker = self._marker(source, shape, Kind.BAD_JSON, message)
            if message is Message.EVENT:
                messages.append(self._events.valid(marker, self._n))
            else:
                messages.append(self._updates.valid(message, scope, marker)[0])
        return messages

    def _broken_count(self, sizes: tuple[int, int], kinds: Sequence[Kind | Draw] | None, broken: bool | None) -> int:
        """How many messages a whole broken record holds, or 0 when this record is not to be broken."""
        if broken is None:
            broken = kinds is None and self._rng.random() < self._poison_rate / 4
        if not broken:
            return 0
        return len(kinds) if kinds else self._rng.randint(*sizes)

    # --- SQS -----------------------------------------------------------------------------------------

    def sqs_body(
        self,
        shape: str,
        source: str = "sqs",
        *,
        kinds: Sequence[Kind | Draw] | None = None,
        broken: bool | None = None,
        scope: Scope | None = None,
    ) -> str:
        """One SQS body of `shape`; `kinds` fixes its messages, `broken` makes the whole record undecodable
        (array and eventbridge shapes: the other shapes break one message at a time, with BAD_JSON); `scope`
        names the profiles its updates change (None: standard-queue profiles)."""
        if shape == "object":
            [(kind, _, one)] = self._messages(source, shape, (1, 1), bad_json=True, kinds=kinds, scope=scope)
            return one if kind is Kind.BAD_JSON else _compact(one)
        if shape == "array":
            if count := self._broken_count((2, 25), kinds, broken):
                return _compact(self._broken_record(source, shape, count, scope)) + " <trailing garbage>"
            several = self._messages(source, shape, (2, 25), bad_json=False, kinds=kinds, scope=scope)
            return _compact([one for _, _, one in several])
        if shape == "ndjson":
            lines = self._messages(source, shape, (2, 25), bad_json=True, kinds=kinds, scope=scope)
            return "\n".join(e if kind is Kind.BAD_JSON else _compact(e) for kind, _, e in lines) + "\n"
        if shape == "sns":
            single = len(kinds) == 1 if kinds is not None else self._rng.random() < 0.5
            if single:
                [(kind, _, one)] = self._messages(source, shape, (1, 1), bad_json=True, kinds=kinds, scope=scope)
                text = one if kind is Kind.BAD_JSON else _compact(one)
            else:
                several = self._messages(source, shape, (2, 10), bad_json=False, kinds=kinds, scope=scope)
                text = _compact([one for _, _, one in several])
            return sns_envelope(text, index=self._n)
        if shape == "eventbridge":
            if self._broken_count((1, 1), kinds, broken):
                [one] = self._broken_record(source, shape, 1, scope)
                return eventbridge_envelope(one, index=self._n)[:-1]  # the closing brace is missing
            [(_, _, one)] = self._messages(source, shape, (1, 1), bad_json=False, kinds=kinds, scope=scope)
            return eventbridge_envelope(one, index=self._n)
        raise ValueError(f"unknown SQS shape {shape!r}")

    def vendor_text(self, source: str, shape: str, vendor: str) -> str:
        """A record of one vendor's messages (vendors.py), poison among them at the same rate."""

        def mark(kind: Kind, message: Message, call: str) -> str:
            return self._marker(source, shape, kind, message, call)

        text, updates = self._vendors.record(shape, vendor, mark, self._poison_rate)
        self.plan.updates.update(updates)
        return text

    def add_vendor(self, source: str, shape: str, vendor: str) -> None:
        """One record of a vendor's messages to `source`; in a FIFO message group or under a partition key like the
        others, though what they change are profiles of their own (vendors.py)."""
        if source == "kinesis":
            key = f"pk-{self._rng.randrange(self._kinesis_keys)}"
            self.plan.kinesis_records.append((self.vendor_text(source, shape, vendor).encode(), key))
        elif source == "sqs-fifo":
            group = f"fifo-{self._rng.randrange(self._fifo_groups)}"
            self.plan.fifo_messages.append((self.vendor_text(source, shape, vendor), group, f"dedup-{self._n}"))
        else:
            self.plan.sqs_bodies.append(self.vendor_text(source, shape, vendor))

    def add_sqs(self, shape: str) -> None:
        self.plan.sqs_bodies.append(self.sqs_body(shape))

    def add_fifo(self, shape: str) -> None:
        group = f"fifo-{self._rng.randrange(self._fifo_groups)}"
        body = self.sqs_body(shape, source="sqs-fifo", scope=Scope(group, group))
        self.plan.fifo_messages.append((body, group, f"dedup-{self._n}"))

    def add_sqs_huge(self) -> bool:
        """One event just under the queue's size limit that normalizes to 1 MiB or more; False if the queue
        is too small for such an event to exist at all (then only the stream can carry one)."""
        body_bytes = self._sqs_max - 16
        if body_bytes + 56 < MIB:  # normalizing adds `ip` and a derived $insert_id: about 55 bytes
            return False
        marker = self._marker("sqs", "object", Kind.OVER_1MIB)
        self.plan.sqs_bodies.append(huge_event(marker, self._now_s, body_bytes))
        return True

    def add_sqs_huge_undecodable(self) -> None:
        """A body as large as the queue takes that is not JSON: parked whole, it is larger than the queue."""
        marker = self._marker("sqs", "object", Kind.BAD_JSON)
        head = bad_text(marker)
        self.plan.sqs_bodies.append(head + "x" * (self._sqs_max - 16 - len(head)))

    # --- Kinesis -------------------------------------------------------------------------------------

    def kinesis_data(
        self,
        shape: str,
        *,
        kinds: Sequence[Kind | Draw] | None = None,
        broken: bool | None = None,
        scope: Scope | None = None,
    ) -> bytes:
        """One Kinesis record's data of `shape`; `kinds`, `broken` and `scope` as for sqs_body (array and gzip
        break whole)."""
        source = "kinesis"
        if shape == "plain":
            [(kind, marker, one)] = self._messages(source, shape, (1, 1), bad_json=True, kinds=kinds, scope=scope)
            return bad_bytes(marker) if kind is Kind.BAD_JSON else _compact(one).encode()
        if shape == "array":
            if count := self._broken_count((2, 25), kinds, broken):
                return (_compact(self._broken_record(source, shape, count, scope)) + " <trailing garbage>").encode()
            several = self._messages(source, shape, (2, 25), bad_json=False, kinds=kinds, scope=scope)
            return _compact([one for _, _, one in several]).encode()
        if shape == "ndjson":
            lines = self._messages(source, shape, (2, 25), bad_json=True, kinds=kinds, scope=scope)
            return ("\n".join(e if kind is Kind.BAD_JSON else _compact(e) for kind, _, e in lines) + "\n").encode()
        if shape == "gzip":
            if count := self._broken_count((5, 50), kinds, broken):
                # A gzip header with an unknown compression method, then the messages in plain sight.
                inside = _compact(self._broken_record(source, shape, count, scope)).encode()
                return b"\x1f\x8b\x07\x00\x00\x00\x00\x00\x00\xff" + inside
            several = self._messages(source, shape, (5, 50), bad_json=False, kinds=kinds, scope=scope)
            return gzip.compress(_compact([one for _, _, one in several]).encode(), compresslevel=6, mtime=0)
        if shape == "kpl":
            subs = self._messages(source, shape, (2, 20), bad_json=True, kinds=kinds, scope=scope)
            return kpl_aggregate(
                [bad_bytes(m) if kind is Kind.BAD_JSON else _compact(e).encode() for kind, m, e in subs]
            )
        if shape == "cloudwatch-logs":
            logs = self._messages(source, shape, (2, 20), bad_json=True, kinds=kinds, scope=scope)
            texts = [e if kind is Kind.BAD_JSON else _compact(e) for kind, _, e in logs]
            return cloudwatch_logs_data(texts, first_id=self._n * 100, timestamp_ms=(self._now_s - 600) * 1000)
        raise ValueError(f"unknown Kinesis shape {shape!r}")

    def add_kinesis(self, shape: str) -> None:
        key = self._rng.randrange(self._kinesis_keys)
        scope = Scope(f"kin-{key}", f"kin-{key}")
        self.plan.kinesis_records.append((self.kinesis_data(shape, scope=scope), f"pk-{key}"))

    def add_kinesis_huge(self) -> None:
        """An event over 1 MiB in a gzip record: the stream's 1 MiB record limit holds it compressed."""
        marker = self._marker("kinesis", "gzip", Kind.OVER_1MIB)
        blob = "".join(self._rng.choice("abcdefgh") for _ in range(64)) * (MIB // 64 + 2048)
        event = huge_event(marker, self._now_s, 0, blob)
        self.plan.kinesis_records.append((gzip.compress(event.encode(), mtime=0), "pk-huge"))

    def add_kinesis_huge_undecodable(self) -> None:
        """Close to the stream's 1 MiB record limit of binary garbage: parked whole, its base64 is larger."""
        marker = self._marker("kinesis", "plain", Kind.BAD_JSON)
        head = bad_bytes(marker)
        self.plan.kinesis_records.append((head + b"\xff" * (MIB - 64 - len(head)), "pk-huge"))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
