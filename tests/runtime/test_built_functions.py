"""Every sample event through the built functions in the real runtime, called with boto3's Lambda client as a
deployed function would be: the same batchItemFailures, and the same events and profile updates reaching the
sink, as the in-process handler gives (localdev/invoke.py, the functional tests' way of running it)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from localdev.emulator.server import InvokeFront
from localdev.invoke import function_for
from localdev.invoke import invoke as invoke_in_process
from localdev.sink import MixpanelSink
from tests.functional.conftest import EVENTS
from tests.runtime.conftest import KINESIS_FUNCTION, SQS_FUNCTION, forwarder_env, invoke, lambda_client

SAMPLES = sorted(path.name for path in EVENTS.glob("*.json"))
FUNCTION = {"sqs": SQS_FUNCTION, "kinesis": KINESIS_FUNCTION}


@pytest.fixture(scope="module")
def oracle_sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as sink:
        yield sink


def received(sink: MixpanelSink, events_before: int, updates_before: int) -> tuple[list[str], list[str]]:
    """What reached the sink since the counts given, as sorted JSON texts (threads send in any order)."""
    events = sorted(json.dumps(event, sort_keys=True) for event in sink.events[events_before:])
    updates = sorted(repr(update) for update in sink.updates[updates_before:])
    return events, updates


def test_samples_cover_both_functions() -> None:
    kinds = {function_for(json.loads((EVENTS / name).read_text())) for name in SAMPLES}
    assert kinds == {"sqs", "kinesis"}


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_ends_as_in_process(
    name: str, front: InvokeFront, runtime_sink: MixpanelSink, oracle_sink: MixpanelSink
) -> None:
    payload = (EVENTS / name).read_bytes()
    event = json.loads(payload)
    kind = function_for(event)
    before = len(oracle_sink.events), len(oracle_sink.updates)
    expected = invoke_in_process(kind, event, forwarder_env(oracle_sink)).response
    runtime_before = len(runtime_sink.events), len(runtime_sink.updates)

    answer, response = invoke(lambda_client(front.url), FUNCTION[kind], payload)

    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert response == expected
    assert received(runtime_sink, *runtime_before) == received(oracle_sink, *before)


def test_function_error_is_unhandled_with_the_runtimes_error_document(front: InvokeFront) -> None:
    answer, response = invoke(lambda_client(front.url), KINESIS_FUNCTION, b'{"not": "a kinesis event"}')

    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert response["errorType"] == "InvocationError"
    assert "Records" in response["errorMessage"]
    assert response["requestId"] == answer["ResponseMetadata"]["RequestId"]


def test_log_tail_holds_the_invocations_report(front: InvokeFront) -> None:
    answer, _ = invoke(
        lambda_client(front.url), SQS_FUNCTION, (EVENTS / "sqs-standard.json").read_bytes(), LogType="Tail"
    )
    request_id = answer["ResponseMetadata"]["RequestId"]

    lines = base64.b64decode(answer["LogResult"]).decode().splitlines()
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\t")
    assert "\tMemory Size: 256 MB\t" in lines[-1]  # the template's FunctionMemory default


@pytest.mark.parametrize(
    ("function", "payload", "error"),
    [
        ("NoSuchFunction", b"{}", "ResourceNotFoundException"),
        (SQS_FUNCTION, b"{not json", "InvalidRequestContentException"),
        (SQS_FUNCTION, b"[" * 100_000 + b"]" * 100_000, "InvalidRequestContentException"),  # nested too deeply
    ],
)
def test_invoke_api_refuses_as_lambda_does(front: InvokeFront, function: str, payload: bytes, error: str) -> None:
    client = lambda_client(front.url)

    with pytest.raises(client.exceptions.ClientError) as refused:
        client.invoke(FunctionName=function, Payload=payload)

    assert refused.value.response["Error"]["Code"] == error


def test_function_arn_and_dry_run_are_understood(front: InvokeFront) -> None:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{SQS_FUNCTION}"

    answer = lambda_client(front.url).invoke(FunctionName=arn, Payload=b"{}", InvocationType="DryRun")

    assert answer["StatusCode"] == 204
