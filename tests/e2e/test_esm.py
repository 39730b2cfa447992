"""The simulator and the accounting themselves, with scripted handlers: a harness that cannot fail proves
nothing, so each rule it enforces is shown to catch the mistake it is there for."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from localdev.eventgen import cloudwatch_logs_data, kpl_aggregate
from tests.e2e.conftest import Clients
from tests.e2e.esm import FifoOrderError, PartialBatchResponseError, reported_identifiers, run_until_drained
from tests.e2e.esm_kinesis import KinesisMapping
from tests.e2e.esm_sqs import SqsMapping
from tests.e2e.markers import markers_in
from tests.e2e.queues import receive_everything

pytestmark = pytest.mark.e2e


class Scripted:
    """A handler that records every batch and answers with `answer(records)`."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        assert context.get_remaining_time_in_millis() > 0
        self.batches.append(event["Records"])
        return self.answer(event["Records"])


def failures(*identifiers: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in identifiers]}


def queue_with_redrive(sqs: Any, name: str, bodies: list[str], *, max_receive: int = 2) -> tuple[str, str]:
    fifo = name.endswith(".fifo")
    extra = {"FifoQueue": "true"} if fifo else {}
    dlq_url = sqs.create_queue(QueueName=name.replace("src", "dlq"), Attributes=extra)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)})
    url = sqs.create_queue(QueueName=name, Attributes={**extra, "VisibilityTimeout": "1", "RedrivePolicy": policy})[
        "QueueUrl"
    ]
    for n, body in enumerate(bodies):
        group = {"MessageGroupId": "g", "MessageDeduplicationId": f"d{n}"} if fifo else {}
        sqs.send_message(QueueUrl=url, MessageBody=body, **group)
    return url, dlq_url


def stream_with(kinesis: Any, name: str, datas: list[bytes]) -> None:
    kinesis.create_stream(StreamName=name, ShardCount=1)
    for data in datas:
        kinesis.put_record(StreamName=name, Data=data, PartitionKey="k")


def test_reported_identifiers_are_checked_as_lambda_checks_them() -> None:
    batch = ["a", "b"]
    assert reported_identifiers(None, batch) == []
    assert reported_identifiers({"batchItemFailures": []}, batch) == []
    assert reported_identifiers(failures("b"), batch) == ["b"]
    bad_answers: list[Any] = [
        failures("c"),
        failures(""),
        {"batchItemFailures": [{"id": "a"}]},
        {"batchItemFailures": "a"},
        [],
    ]
    for bad in bad_answers:
        with pytest.raises(PartialBatchResponseError):
            reported_identifiers(bad, batch)


def test_sqs_deletes_what_was_not_reported_and_redrives_the_rest_after_max_receive_count(clients: Clients) -> None:
    url, dlq_url = queue_with_redrive(clients.sqs, "e2e-src", [f"m{n}" for n in range(5)])
    handler = Scripted(lambda records: failures(*(r["messageId"] for r in records if r["body"] == "m2")))
    mapping = SqsMapping(clients.sqs, url, handler, batch_size=10)

    outcome = run_until_drained([mapping], time_limit_s=30)

    assert outcome.drained
    assert [m["Body"] for m in receive_everything(clients.sqs, dlq_url, delete=False)] == ["m2"]
    assert sorted(r["body"] for r in handler.batches[0]) == [f"m{n}" for n in range(5)]
    assert [[r["body"] for r in batch] for batch in handler.batches[1:]] == [["m2"]]  # maxReceiveCount 2
    record = handler.batches[0][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":e2e-src")
    assert {"ApproximateReceiveCount", "SentTimestamp"} <= set(record["attributes"])


def test_sqs_function_error_deletes_nothing(clients: Clients) -> None:
    url, dlq_url = queue_with_redrive(clients.sqs, "e2e-src", ["m0", "m1"])

    def broken(records: list[dict[str, Any]]) -> Any:
        raise RuntimeError("bad configuration")

    mapping = SqsMapping(clients.sqs, url, Scripted(broken))
    outcome = run_until_drained([mapping], time_limit_s=30)

    assert outcome.drained
    assert mapping.stats.handler_errors == ["RuntimeError: bad configuration"] * 2
    assert sorted(m["Body"] for m in receive_everything(clients.sqs, dlq_url, delete=False)) == ["m0", "m1"]


def test_sqs_identifier_not_in_the_batch_fails_the_run_loudly(clients: Clients) -> None:
    url, _ = queue_with_redrive(clients.sqs, "e2e-src", ["m0"])
    mapping = SqsMapping(clients.sqs, url, Scripted(lambda records: failures("not-a-message-id")))
    with pytest.raises(PartialBatchResponseError, match="not-a-message-id"):
        run_until_drained([mapping], time_limit_s=30)


def test_fifo_answer_that_skips_later_records_fails_the_run(clients: Clients) -> None:
    url, _ = queue_with_redrive(clients.sqs, "e2e-src.fifo", ["m0", "m1", "m2"])
    mapping = SqsMapping(clients.sqs, url, Scripted(lambda records: failures(records[0]["messageId"])))
    with pytest.raises(FifoOrderError):
        run_until_drained([mapping], time_limit_s=30)


def test_fifo_first_failure_and_everything_after_are_redelivered_and_the_rest_deleted(clients: Clients) -> None:
    url, dlq_url = queue_with_redrive(clients.sqs, "e2e-src.fifo", ["m0", "m1", "m2"], max_receive=3)

    def fail_from_m1_or_m2(records: list[dict[str, Any]]) -> Any:
        first = next((n for n, r in enumerate(records) if r["body"] in ("m1", "m2")), len(records))
        return failures(*(r["messageId"] for r in records[first:]))

    handler = Scripted(fail_from_m1_or_m2)
    outcome = run_until_drained([SqsMapping(clients.sqs, url, handler)], time_limit_s=30)

    assert outcome.drained
    assert [r["body"] for r in handler.batches[0]] == ["m0", "m1", "m2"]
    assert all(r["attributes"]["MessageGroupId"] == "g" for batch in handler.batches for r in batch)
    # In order, as SQS hands a group back (the mapping works around moto's last-first order: see SqsMapping).
    redelivered = [r["body"] for batch in handler.batches[1:] for r in batch]
    assert redelivered == ["m1", "m2", "m1", "m2"]  # maxReceiveCount 3: two more deliveries each
    assert sorted(m["Body"] for m in receive_everything(clients.sqs, dlq_url, delete=True)) == ["m1", "m2"]


def test_kinesis_resumes_at_the_lowest_reported_and_hands_the_batch_to_on_failure(clients: Clients) -> None:
    stream_with(clients.kinesis, "e2e-stream", [f"r{n}".encode() for n in range(1, 13)])

    def report_9_and_10(records: list[dict[str, Any]]) -> Any:
        # "10" < "9" as strings: the checkpoint must compare sequence numbers as integers.
        return failures(
            *(r["kinesis"]["sequenceNumber"] for r in records if r["kinesis"]["sequenceNumber"] in {"9", "10"})
        )

    handler = Scripted(report_9_and_10)
    mapping = KinesisMapping(clients.kinesis, "e2e-stream", handler, batch_size=100, max_retry_attempts=2)
    outcome = run_until_drained([mapping], time_limit_s=30)

    assert outcome.drained
    starts = [int(batch[0]["kinesis"]["sequenceNumber"]) for batch in handler.batches]
    assert starts == [1, 9, 9]  # the first delivery, then two retries from the lowest reported
    assert base64.b64decode(handler.batches[1][0]["kinesis"]["data"]) == b"r9"
    [failure] = mapping.on_failure
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == ("9", "12", 4)
    assert "data" not in json.dumps(failure)  # metadata only, as an SQS/SNS destination gets it


def test_run_gives_up_at_the_time_limit_instead_of_looping_forever(clients: Clients) -> None:
    stream_with(clients.kinesis, "e2e-stream", [b"poison"])
    handler = Scripted(lambda records: failures(records[0]["kinesis"]["sequenceNumber"]))
    mapping = KinesisMapping(clients.kinesis, "e2e-stream", handler, max_retry_attempts=None)  # Lambda's -1

    outcome = run_until_drained([mapping], time_limit_s=1.0)

    assert not outcome.drained
    assert mapping.on_failure == []
    assert len(handler.batches) > 1


def test_markers_are_found_in_every_payload_shape() -> None:
    one, two, three = "e2eab0000001", "e2eab0000002", "e2eab0000003"
    kpl = kpl_aggregate([json.dumps({"m": one}).encode(), b"\x00garbage " + two.encode()])
    logs = cloudwatch_logs_data([json.dumps({"m": three})])
    parked_record = {"kinesis": {"data": base64.b64encode(kpl).decode()}}
    assert markers_in(parked_record) == {one, two}
    assert markers_in({"data": base64.b64encode(logs).decode()}) == {three}
    assert markers_in({"base64": base64.b64encode(gzip.compress(one.encode())).decode()}) == {one}
    assert markers_in({"body": json.dumps({"Message": json.dumps([{"m": two}])})}) == {two}
