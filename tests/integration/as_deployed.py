"""Running template.yaml's functions as deployed (deployed.py) in moto's IAM-enforcing server (tests/moto_iam.py),
and reading back what moto decided: one stack at a time, a handler on a cold start with nothing but its deployed
environment and its role's session, the parked-events queue read back, every authorization decision listed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.kinesis_forwarder.app import lambda_handler as kinesis_handler
from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.cfn import Template
from localdev.eventgen import kinesis_event, kinesis_record, lambda_context, sqs_event, sqs_record
from mixpanel_forwarder import runtime
from mixpanel_forwarder.parked import ParkedReader, failures
from tests.functional.conftest import FAST_RETRIES
from tests.integration.deployed import SETUP_CREDENTIALS, Clients, Function, Stack, deploy
from tests.integration.template import KINESIS_FUNCTION, SQS_FUNCTION
from tests.moto import enforce_iam, iam_moto_server, reset

HANDLERS = {SQS_FUNCTION: sqs_handler, KINESIS_FUNCTION: kinesis_handler}
# This process's variables a function must not see: it runs with its own environment only.
FOREIGN = ("AWS_", "MIXPANEL_", "DEAD_LETTER_", "POWERTOOLS_", "TRACING_", "TRANSFORM")

Decision = dict[str, Any]  # {"principal", "api", "action", "resource", "denied"}: tests/moto_iam.py


class Deployments:
    """The IAM-enforcing server, one stack at a time (deploying another resets moto first), and its decisions."""

    def __init__(self, url: str, decisions: Path) -> None:
        self.url = url
        self._decisions = decisions
        self._current: tuple[object, Stack] | None = None

    def of(self, key: object, template: Template, parameters: Callable[[Clients], Mapping[str, Any]]) -> Stack:
        """The stack `key` names, from `template` with the parameters given what exists before it (made with the
        setup's clients: a stream, a secret of the operator's)."""
        if self._current is None or self._current[0] is not key:
            enforce_iam(self.url, False)
            reset(self.url)
            params = parameters(Clients(self.url, **SETUP_CREDENTIALS))
            self._current = (key, deploy(self.url, template, params))
            enforce_iam(self.url)
        return self._current[1]

    @contextmanager
    def decisions(self) -> Iterator[list[Decision]]:
        """The decisions moto makes within the block, in the list given once the block ends. Each is written before
        its answer is sent, so every call the block made is there."""
        mark = self._decisions.stat().st_size
        made: list[Decision] = []
        try:
            yield made
        finally:
            with self._decisions.open(encoding="utf-8") as lines:
                lines.seek(mark)
                made.extend(json.loads(line) for line in lines)


@contextmanager
def iam_deployments(directory: Path) -> Iterator[Deployments]:
    decisions = directory / "decisions.jsonl"
    decisions.touch()
    with iam_moto_server(decisions) as url:
        yield Deployments(url, decisions)


def denied(decisions: list[Decision], function: Function) -> list[str]:
    """Each decision that refused a call, or was not about the function's own role: as a line to read."""
    return [
        f"{decision['action'] or decision['api']} on {decision['resource']} as {decision['principal']}: "
        f"{decision['denied'] or 'not the function role'}"
        for decision in decisions
        if decision["denied"] or decision["principal"] != function.principal
    ]


def run_as_deployed(
    function: Function,
    bodies: list[str],
    local: Mapping[str, str],
    monkeypatch: pytest.MonkeyPatch,
    source_arn: str | None = None,
    attributes: Mapping[str, str] | None = None,
) -> Any:
    """The function's handler on a cold start, given one record per body from its source (or from `source_arn`, another
    queue it reads), with its environment as deployed and `local` (the sink's URL): the session's credentials are the
    only ones it can find. SQS records are sent a moment ago (an old one would be near its queue's retention end), with
    `attributes` over their own."""
    for name in list(os.environ):
        if name.startswith(FOREIGN):
            monkeypatch.delenv(name)
    for name, value in {**function.environment, **FAST_RETRIES, **local}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here; it, not the code, calls X-Ray
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a new container: no session made with other credentials
    runtime.reset()  # and no forwarder (nor its clients) from an earlier invocation
    if function.name == KINESIS_FUNCTION:
        records = [
            kinesis_record(body.encode(), index=i, stream_arn=function.source_arn) for i, body in enumerate(bodies)
        ]
        event = kinesis_event(records)
    else:
        now_ms = int(time.time() * 1000)
        queue_arn = source_arn or function.source_arn
        records = [
            sqs_record(body, index=i, queue_arn=queue_arn, sent_timestamp_ms=now_ms) for i, body in enumerate(bodies)
        ]
        for record in records:
            record["attributes"].update(attributes or {})
        event = sqs_event(records)
    return HANDLERS[function.name](event, lambda_context(remaining_ms=60_000, function_name=function.name))


def take_parked(stack: Stack) -> tuple[int, list[dict[str, Any]]]:
    """The parked-events queue's messages, removed, and the failures they hold, each read back whole."""
    sqs = stack.operator("sqs")
    queue = stack.known["ParkedEventsQueue"]
    reader = ParkedReader()
    count, found = 0, []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            count += 1
            document = reader.read(message["Body"])
            found.extend(failures(document) if document is not None else [])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert reader.incomplete == []
    return count, found
