"""An execution environment's life as Lambda leads it: initialised by the first invocation only, kept warm for the
next, and ended by the emulator when an invocation runs past the function's timeout, which the caller sees as
Lambda reports it; the next invocation then starts a new runtime."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from localdev.emulator.process import Emulator
from localdev.emulator.server import InvokeFront
from localdev.emulator.session import Session
from localdev.eventgen import sample_event, sqs_event, sqs_record
from localdev.sink import MixpanelSink
from tests.functional.conftest import EVENTS
from tests.runtime.conftest import SQS_FUNCTION, emulator_for, forwarder_env, invoke, lambda_client

STANDARD = (EVENTS / "sqs-standard.json").read_bytes()
TIMEOUT_S = 2
# Enough records that reporting them takes the function well past its deadline (tens of ms) once the hung
# request is abandoned at that very deadline: with no margin to report in, the function cannot answer in time.
# Under 6 MB, Lambda's limit for a synchronous invocation.
RECORDS = 3000


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as running:
        yield running


def report(emulator: Emulator, request_id: str) -> str:
    (line,) = [line for line in emulator.log_of(request_id) if line.startswith("REPORT RequestId:")]
    return line


def test_second_invocation_is_warm(session: Session, sink: MixpanelSink) -> None:
    with emulator_for(session, SQS_FUNCTION, forwarder_env(sink)) as emulator:
        first = emulator.invoke(STANDARD)
        second = emulator.invoke(STANDARD)

        cold, warm = report(emulator, first.request_id), report(emulator, second.request_id)

    assert json.loads(first.body) == json.loads(second.body) == {"batchItemFailures": []}
    assert "\tInit Duration: " in cold
    assert "\tInit Duration: " not in warm
    assert len(sink.events) == 5  # the redelivery was deduplicated by $insert_id, as Mixpanel does


def test_each_invocation_writes_its_summary_and_metrics_once(session: Session, sink: MixpanelSink) -> None:
    # Written by log.py and emf.py to the runtime's stdout, beside awslambdaric's own root handler: once each, as JSON
    with emulator_for(session, SQS_FUNCTION, forwarder_env(sink)) as emulator:
        invocations = [emulator.invoke(STANDARD), emulator.invoke(STANDARD)]
        logs = [
            [json.loads(line) for line in emulator.log_of(i.request_id) if line.startswith("{")] for i in invocations
        ]

    for log, cold in zip(logs, (True, False), strict=True):
        summaries = [line for line in log if line.get("message") == "invocation summary"]
        assert [(s["cold_start"], s["records"], s["function_request_id"]) for s in summaries] == [
            (cold, 5, invocations[int(not cold)].request_id)
        ]
        assert sum("RecordsReceived" in line for line in log if "_aws" in line) == 1
        assert sum("ColdStart" in line for line in log if "_aws" in line) == int(cold)


def test_invocation_past_the_timeout_ends_as_lambda_ends_it(session: Session, sink: MixpanelSink) -> None:
    env = forwarder_env(sink, DEADLINE_MARGIN_MS="0", REQUEST_TIMEOUT_SECONDS="60")
    many = json.dumps(sqs_event([sqs_record(json.dumps(sample_event(i)), index=i) for i in range(RECORDS)])).encode()
    with emulator_for(session, SQS_FUNCTION, env, timeout_s=TIMEOUT_S) as emulator:
        front = InvokeFront({SQS_FUNCTION: emulator}, port=0).start()
        client = lambda_client(front.url)
        try:
            invoke(client, SQS_FUNCTION, STANDARD)  # warm: the timed-out invocation is the handler's alone
            sink.hang_next(60, count=RECORDS)
            timed_out, error = invoke(client, SQS_FUNCTION, many)
            sink.clear()  # the hangs scripted for requests that the ended runtime never sent
            after, response = invoke(client, SQS_FUNCTION, STANDARD)
        finally:
            front.stop()
        request_id = timed_out["ResponseMetadata"]["RequestId"]
        restarted = emulator.log_of(after["ResponseMetadata"]["RequestId"])
        ended = report(emulator, request_id)

    assert timed_out["StatusCode"] == 200
    assert timed_out["FunctionError"] == "Unhandled"
    assert error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {TIMEOUT_S}.00 seconds",
    }
    assert f"\tDuration: {TIMEOUT_S * 1000}.00 ms\t" in ended
    assert "FunctionError" not in after
    assert response == {"batchItemFailures": []}
    # The runtime was ended: the next invocation started a new one (its init inside the invocation, as Lambda
    # does after a timeout, so no "Init Duration"), and the handler saw a cold start.
    assert any('"cold_start":true' in line for line in restarted)
