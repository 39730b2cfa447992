"""Integers beyond 64 bits: orjson reads them as rounded floats; they must arrive exactly, or be refused."""

from __future__ import annotations

import copy
import gzip
import json
from types import SimpleNamespace
from typing import Any

import pytest

from localdev.eventgen import kinesis_event, kinesis_record, kpl_aggregate
from mixpanel_forwarder import codec
from mixpanel_forwarder.errors import Inexact, Invalid
from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.model import Item, SourceKind, SourceRecord
from mixpanel_forwarder.normalize import normalize, normalize_common
from mixpanel_forwarder.sources import kinesis, sqs
from tests.conftest import FakeParker, FakeSender, imported, make_settings

NOW_MS = 1_764_000_100_000
T = 1_764_000_000
BIG = 123456789012345678901234  # 77 bits: orjson reads 1.2345678901234569e+23


def event(**props: Any) -> dict[str, Any]:
    return {"event": "A", "properties": {"time": T, "$insert_id": "id-0123456789", "distinct_id": "u1", **props}}


def text(**props: Any) -> str:
    return json.dumps(event(**props))


def item(payload: Any) -> Item:
    return Item(payload, "sqs:m1:0", None)


def test_orjson_reads_an_integer_beyond_64_bits_rounded() -> None:
    # The premise: if this changes, the Inexact round trip is no longer needed (nor harmful).
    assert codec.loads(str(BIG)) == float(BIG) != BIG
    assert codec.loads(str(2**64 - 1)) == 2**64 - 1
    assert codec.loads_exact(str(BIG)) == BIG


@pytest.mark.parametrize("text", ["1e400", "-1e400", '{"n": [1, 2e999]}', '{"n": 1E+309}'])
def test_a_number_beyond_a_doubles_range_is_refused_read_exactly_as_orjson_refuses_it(text: str) -> None:
    # Read as infinity it would be written as null (orjson writes every infinity so): never read, as orjson never does
    with pytest.raises(ValueError, match="infinity"):
        codec.loads(text)
    with pytest.raises(ValueError, match="beyond the range of a double"):
        codec.loads_exact(text)
    assert codec.loads_exact("1.7976931348623157e308") == 1.7976931348623157e308  # the largest double is one


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({"distinct_id": BIG}, "properties.distinct_id"),
        ({"n": -BIG}, "properties.n"),
        ({"n": 2**64}, "properties.n"),
        ({"order": {"lines": [{"sku": BIG}]}}, "properties.order.lines.0.sku"),
    ],
)
def test_a_float_that_may_be_a_rounded_integer_is_not_taken_as_it_was_read(props: dict[str, Any], field: str) -> None:
    read = codec.loads(text(**props))  # as the sources read it: the integer is now a float
    untouched = copy.deepcopy(read)

    assert normalize_common(read, item(read), NOW_MS) is None
    assert read == untouched
    with pytest.raises(Inexact) as raised:
        normalize(item(read), NOW_MS)
    assert raised.value.field == field


def test_floats_below_two_to_the_63_take_the_common_path() -> None:
    read = codec.loads(text(price=9.2e18, ratio=-0.5, nested=[1.5e18]))
    assert normalize_common(read, item(read), NOW_MS) is not None


@pytest.mark.parametrize("distinct_id", [BIG, -BIG, 2**53 + 1, 2**64 - 1, -(2**63)])
def test_integer_distinct_id_a_double_cannot_hold_is_sent_as_its_digits(distinct_id: int) -> None:
    read = codec.loads_exact(text(distinct_id=distinct_id))
    sent = normalize(item(read), NOW_MS, exact=True)
    assert sent["properties"]["distinct_id"] == str(distinct_id)


@pytest.mark.parametrize("distinct_id", [2**53, -(2**53), 42])
def test_integer_distinct_id_a_double_holds_stays_a_number(distinct_id: int) -> None:
    sent = normalize(item(codec.loads_exact(text(distinct_id=distinct_id))), NOW_MS, exact=True)
    assert sent["properties"]["distinct_id"] == distinct_id


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({"n": BIG}, "properties.n"),
        ({"n": 2**64}, "properties.n"),
        ({"n": -(2**63) - 1}, "properties.n"),
        ({"order": {"lines": [{"sku": BIG}]}}, "properties.order.lines.0.sku"),
    ],
)
def test_other_integer_beyond_64_bits_is_refused_naming_its_path(props: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as raised:
        normalize(item(codec.loads_exact(text(**props))), NOW_MS, exact=True)
    assert type(raised.value) is Invalid
    assert raised.value.field == field
    assert "cannot be sent exactly" in raised.value.message
    assert "as a string" in raised.value.message


def test_integers_within_64_bits_and_real_floats_are_sent_as_they_are() -> None:
    props = {"a": 2**64 - 1, "b": -(2**63), "c": 1e20, "d": -1.5e300, "e": [1e19]}
    sent = normalize(item(codec.loads_exact(text(**props))), NOW_MS, exact=True)
    assert {name: sent["properties"][name] for name in props} == props


def test_integer_insert_id_is_refused_even_when_exact() -> None:
    payload = codec.loads_exact(text(**{"$insert_id": BIG}))
    with pytest.raises(Invalid) as raised:
        normalize(item(payload), NOW_MS, exact=True)
    assert raised.value.field == "properties.$insert_id"
    assert "string" in raised.value.message


def sqs_record(body: str, message_id: str = "m1") -> Any:
    _, [record] = sqs.source_records({"Records": [{"messageId": message_id, "body": body}]})
    return record


@pytest.mark.parametrize(
    "body",
    [
        text(distinct_id=BIG),  # a lone event: the fast path's shape
        json.dumps([event(), event(distinct_id=BIG)]),
        "\n".join([json.dumps(event()), "{not json", text(distinct_id=BIG)]),
        json.dumps({"Type": "Notification", "MessageId": "s1", "TopicArn": "t", "Message": text(distinct_id=BIG)}),
    ],
)
def test_sqs_record_read_again_exactly_has_the_same_items_with_exact_integers(body: str) -> None:
    record = sqs_record(body)
    decoded = sqs.decode(record)
    items = decoded

    exact = record.exact_items()

    assert [i.key for i in exact] == [i.key for i in items]
    assert exact[-1].payload["properties"]["distinct_id"] == BIG
    assert items[-1].payload["properties"]["distinct_id"] != BIG  # orjson rounded it


@pytest.mark.parametrize("wrap", [lambda data: data, gzip.compress, lambda data: kpl_aggregate([b"{}", data])])
def test_kinesis_record_read_again_exactly_has_the_same_items_with_exact_integers(wrap: Any) -> None:
    _, [record] = kinesis.source_records(kinesis_event([kinesis_record(wrap(text(n=BIG).encode()))]))
    decoded = kinesis.decode(record)
    items = decoded

    exact = record.exact_items()

    assert [i.key for i in exact] == [i.key for i in items]
    assert exact[-1].payload["properties"]["n"] == BIG


def test_forwarder_sends_the_exact_digits_and_parks_a_big_integer_it_cannot_send() -> None:
    bodies = [
        text(distinct_id=BIG),
        json.dumps([event(), {"event": "B", "properties": {"time": T, "distinct_id": "u2", "amount": BIG}}]),
        text(distinct_id="u3", ratio=1e20),
    ]
    invocation = {"Records": [{"messageId": f"m{i}", "body": body} for i, body in enumerate(bodies)]}
    sender, parker = FakeSender(imported), FakeParker()
    forwarder = Forwarder(make_settings(), sender=sender, parker=parker, clock=lambda: NOW_MS / 1000)

    result = forwarder.forward(sqs, invocation, None)

    [request] = sender.requests
    by_user = {sent["properties"]["distinct_id"]: sent["properties"] for sent in request}
    assert set(by_user) == {str(BIG), "u1", "u3"}  # the digits, as a string; nothing rounded was sent
    assert by_user["u3"]["ratio"] == 1e20  # a float written as a float goes as one
    [parked] = parker.messages
    assert parked["field"] == "properties.amount"
    assert "cannot be sent exactly" in parked["reason"]
    assert parked["source"]["item"] == "sqs:m1:1"
    assert result.response == {"batchItemFailures": []}


def test_forwarder_refuses_with_a_reason_when_the_record_cannot_be_read_again() -> None:
    # A source whose records cannot be decoded again (the base SourceRecord): refused, never sent rounded.
    source = SimpleNamespace(
        NAME="test",
        source_records=lambda event: (SourceKind.SQS, [SourceRecord("m1", {"messageId": "m1"}, {})]),
        decode=lambda record: [Item(codec.loads(text(n=BIG)), "test:m1:0", None)],
    )
    sender, parker = FakeSender(imported), FakeParker()
    forwarder = Forwarder(make_settings(), sender=sender, parker=parker, clock=lambda: NOW_MS / 1000)

    result = forwarder.forward(source, {}, None)

    assert sender.requests == []
    [parked] = parker.messages
    assert "could not be read again exactly" in parked["reason"]
    assert result.response == {"batchItemFailures": []}


def test_kinesis_data_with_a_big_distinct_id_arrives_as_its_digits() -> None:
    sender = FakeSender(imported)
    invocation = kinesis_event([kinesis_record(text(distinct_id=BIG).encode())])
    Forwarder(make_settings(), sender=sender, clock=lambda: NOW_MS / 1000).forward(kinesis, invocation, None)
    assert [sent["properties"]["distinct_id"] for sent in sender.sent_events] == [str(BIG)]


def test_kinesis_ndjson_with_lines_orjson_refuses_splits_the_same_when_read_exactly() -> None:
    lines = [b"\xff not utf-8", b'{"event": "A", "properties": {"n": NaN}}', text(distinct_id=BIG).encode()]
    _, [record] = kinesis.source_records(kinesis_event([kinesis_record(b"\n".join(lines))]))
    decoded = kinesis.decode(record)
    assert isinstance(decoded, list)

    exact = record.exact_items()

    assert [(i.key, i.error is None) for i in exact] == [(i.key, i.error is None) for i in decoded]
    assert [i.error is None for i in exact] == [False, False, True]
    assert exact[2].payload["properties"]["distinct_id"] == BIG


def test_a_record_is_read_again_once_however_many_of_its_items_need_it(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Any] = []
    exact_loads = codec.loads_exact
    monkeypatch.setattr(codec, "loads_exact", lambda data: reads.append(data) or exact_loads(data))
    body = json.dumps([event(distinct_id=BIG + n, **{"$insert_id": f"id-{n:010d}"}) for n in range(50)])
    sender = FakeSender(imported)

    Forwarder(make_settings(), sender=sender, clock=lambda: NOW_MS / 1000).forward(
        sqs, {"Records": [{"messageId": "m1", "body": body}]}, None
    )

    assert reads == [body]
    assert [sent["properties"]["distinct_id"] for sent in sender.sent_events] == [str(BIG + n) for n in range(50)]


WIDE = 12345678901234567891  # between 2**53 and 2**64: orjson reads it exactly, a double would round it
HASH_KEY = "a-test-key-of-32-characters-long"


def forward_bodies(bodies: list[str], **settings: Any) -> tuple[FakeSender, FakeParker]:
    sender, parker = FakeSender(), FakeParker()
    base = make_settings(**settings)
    forwarder = Forwarder(
        base._replace(credentials=base.credentials._replace(token="tok", hash_key=HASH_KEY)),  # type: ignore[union-attr]
        sender=sender,
        parker=parker,
        clock=lambda: NOW_MS / 1000,
    )
    invocation = {"Records": [{"messageId": f"m{i}", "body": body} for i, body in enumerate(bodies)]}
    forwarder.forward(sqs, invocation, None)
    return sender, parker


def segment(call: str, number: int, **fields: Any) -> str:
    message = {"type": call, "userId": number, "anonymousId": "d1", "timestamp": "2025-11-24T16:00:00Z", **fields}
    return json.dumps(message)


@pytest.mark.parametrize("number", [BIG, WIDE])
def test_a_big_integer_id_is_the_same_exact_string_on_import_engage_and_groups(number: int) -> None:
    amplitude = {"user_id": number, "event_time": "2025-11-24 16:00:00"}
    bodies = [
        text(distinct_id=number),
        json.dumps({"$distinct_id": number, "$set": {"plan": "pro"}}),
        json.dumps({"$group_key": "$group_id", "$group_id": number, "$set": {"seats": 3}}),
        segment("track", number, event="Played", messageId="s1", context={"groupId": number}),
        segment("identify", number, messageId="s2", traits={"plan": "pro"}),
        segment("group", number, messageId="s3", groupId=number, traits={"name": "Acme"}),
        json.dumps({**amplitude, "event_type": "Played", "device_id": "d1", "groups": {"company": number}}),
        json.dumps(
            {**amplitude, "event_type": "$groupidentify", "groups": {"company": number}, "group_properties": {"a": 1}}
        ),
    ]

    sender, parker = forward_bodies(bodies)

    assert parker.messages == []
    digits = str(number)  # never a number Mixpanel would read rounded, never a float rounded on the way
    events = sender.sent_to("/import")[0]
    assert [e["properties"]["distinct_id"] for e in events] == [digits] * 3
    assert [e["properties"].get("$user_id") for e in events] == [None, digits, digits]
    assert events[1]["properties"]["$group_id"] == digits  # Segment's context.groupId: the group's own id
    assert events[2]["properties"]["company"] == digits  # Amplitude's groups: its $groupidentify's id
    users = [update["$distinct_id"] for request in sender.sent_to("/engage") for update in request]
    assert users == [digits] * 3  # the update, the identify call's traits, the group call's membership
    membership = sender.sent_to("/engage")[-1][-1]
    assert membership["$union"] == {"$group_id": [digits]}
    groups = [update["$group_id"] for request in sender.sent_to("/groups") for update in request]
    assert groups == [digits] * 3


def hmac_of(text: str) -> str:
    import hashlib
    import hmac

    return hmac.new(HASH_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("number", [BIG, WIDE])
def test_hashing_an_integer_hashes_its_exact_digits_so_neighbours_never_hash_alike(number: int) -> None:
    from mixpanel_forwarder.transform_rules import read_rules

    rules = read_rules(json.dumps({"hash_properties": ["account", "distinct_id"]}))
    bodies = [
        text(distinct_id=number, account=number),
        text(distinct_id=number + 1, account=number + 1, **{"$insert_id": "id-1234567890"}),
        text(distinct_id=str(number), account=str(number), **{"$insert_id": "id-2345678901"}),
    ]

    sender, parker = forward_bodies(bodies, transforms=rules)

    assert parker.messages == []
    sent = [(e["properties"]["distinct_id"], e["properties"]["account"]) for e in sender.sent_events]
    assert sent[0] == (hmac_of(str(number)), hmac_of(str(number)))
    assert sent[1] == (hmac_of(str(number + 1)), hmac_of(str(number + 1)))  # …890 and …891 differ
    assert sent[2] == sent[0]  # the integer and its digits as text are one id, hashed alike
