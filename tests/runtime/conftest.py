"""The built artifact (.aws-sam/build) in the real Lambda runtime: awslambdaric on Python 3.13 under AWS's Runtime
Interface Emulator (localdev/emulator), reached through the Lambda Invoke API the way boto3 reaches Lambda.

`make test` builds first (make validate), provisions the runtime (make runtime) and sets REQUIRE_SAM_BUILD, so a
missing part fails there; a plain pytest run without them skips these tests with the one-line reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import boto3
import pytest

from localdev.emulator.errors import LocalRunError
from localdev.emulator.process import Emulator
from localdev.emulator.server import InvokeFront
from localdev.emulator.session import Session, prepare, sink_environment
from localdev.sink import MixpanelSink
from tests.functional.conftest import FAST_RETRIES

SQS_FUNCTION = "SqsForwarderFunction"
KINESIS_FUNCTION = "KinesisForwarderFunction"


@pytest.fixture(scope="session")
def session() -> Session:
    try:
        return prepare()
    except LocalRunError as missing:
        if os.environ.get("REQUIRE_SAM_BUILD"):
            pytest.fail(f"REQUIRE_SAM_BUILD is set: {missing}")
        pytest.skip(str(missing))


def forwarder_env(sink: MixpanelSink, **overrides: str) -> dict[str, str]:
    """What the in-process functional tests set: the sink's account, fast retries, no AWS resource."""
    return {**sink_environment(sink), **FAST_RETRIES, **overrides}


def emulator_for(session: Session, name: str, env: dict[str, str], **changes: Any) -> Emulator:
    """`name`'s emulator (to start), `env` over its template environment, `changes` to its settings."""
    spec = dataclasses.replace(session.function(name), **changes)
    return session.emulator(spec, sink=None, overrides=env)


def lambda_client(url: str) -> Any:
    """boto3's Lambda client, as an application would make it, pointed at `url`."""
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # nothing checks it
    )


def invoke(client: Any, function: str, payload: bytes, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """boto3's answer, and its payload as JSON."""
    answer = client.invoke(FunctionName=function, Payload=payload, **kwargs)
    return answer, json.loads(answer["Payload"].read())


@pytest.fixture(scope="module")
def runtime_sink() -> Iterator[MixpanelSink]:
    with MixpanelSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def front(session: Session, runtime_sink: MixpanelSink) -> Iterator[InvokeFront]:
    """Both functions, warm, behind the Invoke API on a free port, against `runtime_sink`."""
    env = forwarder_env(runtime_sink)
    with ExitStack() as running:
        emulators = {
            name: running.enter_context(emulator_for(session, name, env)) for name in (SQS_FUNCTION, KINESIS_FUNCTION)
        }
        server = InvokeFront(emulators, port=0).start()
        running.callback(server.stop)
        yield server
