"""Property-based: whatever bytes arrive, the forwarder answers and names only records of the batch;
whatever numbers an event holds, they are sent as written, or refused."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixpanel_forwarder.forwarder import Forwarder
from mixpanel_forwarder.sources import kinesis, sqs
from mixpanel_forwarder.transport import Response
from tests.conftest import FakeParker, FakeSender, imported, make_settings

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {"event": st.one_of(st.text(max_size=10), st.integers())},
    optional={"properties": st.dictionaries(st.sampled_from(["time", "distinct_id", "$insert_id", "x"]), json_values)},
)
bodies = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    event_like.map(json.dumps),
    st.lists(event_like, max_size=5).map(json.dumps),
    st.lists(event_like, min_size=2, max_size=4).map(lambda es: "\n".join(json.dumps(e) for e in es)),
)

FORWARDER = Forwarder(make_settings(), sender=FakeSender(), clock=lambda: 1_764_000_100.0)
PARKING_FORWARDER = Forwarder(make_settings(), sender=FakeSender(), parker=FakeParker(), clock=lambda: 1_764_000_100.0)


def check(result_records: int, response: dict[str, Any], identifiers: list[str]) -> None:
    reported = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    assert set(reported) <= set(identifiers)
    assert len(reported) == len(set(reported)) <= result_records
    assert all(isinstance(identifier, str) and identifier for identifier in reported)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(bodies, min_size=1, max_size=5))
def test_any_sqs_bodies_get_an_answer_naming_only_batch_records(texts: list[str]) -> None:
    event = {"Records": [{"messageId": f"m{i}", "body": text} for i, text in enumerate(texts)]}
    for forwarder in (FORWARDER, PARKING_FORWARDER):
        result = forwarder.forward(sqs, event, None)
        check(result.records, result.response, [f"m{i}" for i in range(len(texts))])
        counts = result.ledger.counts()
        assert counts["imported"] + counts["parked"] + counts["retry"] == counts["events"]
        if forwarder is PARKING_FORWARDER:
            assert result.response["batchItemFailures"] == []  # everything is imported or parked


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=300), bodies.map(str.encode)), min_size=1, max_size=5))
def test_any_kinesis_data_gets_an_answer_naming_only_batch_records(datas: list[bytes]) -> None:
    event = {
        "Records": [
            {"kinesis": {"sequenceNumber": str(1000 + i), "data": base64.b64encode(data).decode()}, "eventID": "s:1"}
            for i, data in enumerate(datas)
        ]
    }
    for forwarder in (FORWARDER, PARKING_FORWARDER):
        result = forwarder.forward(kinesis, event, None)
        check(result.records, result.response, [str(1000 + i) for i in range(len(datas))])
        if forwarder is PARKING_FORWARDER:
            assert result.response["batchItemFailures"] == []  # everything is imported or parked


class ImportingSender:
    """Keeps every sent event (read back by the stdlib: integers exact) and answers as Mixpanel does."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def send(self, endpoint: Any, body: bytes, timeout: float) -> Response:
        events = json.loads(gzip.decompress(body))
        self.events.extend(events)
        return imported(events)


any_ints = st.one_of(
    st.integers(), st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**53 + 1, 2**64])
)
numbers = st.one_of(any_ints, st.floats(allow_nan=False, allow_infinity=False))
SENDER = ImportingSender()
EXACT_FORWARDER = Forwarder(make_settings(), sender=SENDER, parker=FakeParker(), clock=lambda: 1_764_000_100.0)


def fits_64_bits(value: Any) -> bool:
    if isinstance(value, list):
        return all(map(fits_64_bits, value))
    return type(value) is not int or -(2**63) <= value <= 2**64 - 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.text(max_size=4), st.one_of(numbers, st.lists(numbers, max_size=3)), max_size=5),
    any_ints.filter(lambda n: n not in (0, -1)),  # placeholders Mixpanel refuses as ids
)
def test_numbers_arrive_exactly_as_written_or_are_refused(props: dict[str, Any], distinct_id: int) -> None:
    # GIVEN an event whose numbers may be beyond 64 bits, as JSON text in an SQS body
    properties = {**props, "time": 1_764_000_000, "distinct_id": distinct_id, "$insert_id": "id-0123456789"}
    body = json.dumps({"event": "A", "properties": properties})
    SENDER.events.clear()

    # WHEN it is forwarded
    result = EXACT_FORWARDER.forward(sqs, {"Records": [{"messageId": "m1", "body": body}]}, None)

    # THEN what is sent holds the very numbers of the text (a big integer id as its digits), or nothing is sent
    if all(fits_64_bits(value) for name, value in properties.items() if name != "distinct_id"):
        expected = {**properties, "time": 1_764_000_000_000}
        expected.setdefault("ip", 0)
        if abs(distinct_id) > 2**53:
            expected["distinct_id"] = str(distinct_id)
        assert [json.dumps(sent, sort_keys=True) for sent in SENDER.events] == [
            json.dumps({"event": "A", "properties": expected}, sort_keys=True)
        ]
    else:
        assert SENDER.events == []
        assert result.ledger.counts()["parked"] == 1
