"""template.yaml's stack at its defaults in the scaled moto (tests/integration/deployed.py creates the resources the
template names, with the template's own attributes), and what the simulator needs of it: each function's
environment as deployed, each event source mapping's settings (batch size, batching window, maximum concurrency,
retry attempts, record age, on-failure destination), the function timeout. Nothing here is a number of ours: a
default that changes in the template changes the run.

Besides the stack: a Kinesis stream (the template reads an existing one), and an SQS FIFO queue "of the user's",
made as the README asks of an existing queue: the created queue's visibility timeout, retention and receive budget,
with a FIFO dead-letter queue. Lambda takes at most 10 records from a FIFO queue and no batching window
("Batching window is not supported for FIFO queues", docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localdev.cfn import Template
from localdev.sink import MixpanelSink
from tests.integration.deployed import Stack, as_text, deploy
from tests.integration.template import deep_merge

ROOT = Path(__file__).resolve().parents[3]
SQS_FUNCTION = "SqsForwarderFunction"
KINESIS_FUNCTION = "KinesisForwarderFunction"
FIFO_BATCH_MAX = 10


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping of a function, and the queue as moto holds it."""

    name: str  # e.g. "sqs", "sqs-fifo", or the event's key for any other queue
    function: str
    queue_url: str
    batch_size: int
    window_s: float  # MaximumBatchingWindowInSeconds, on the scaled clock
    max_concurrency: int
    visibility_timeout_s: int
    retention_s: int
    max_receive_count: int | None
    dead_letter_url: str | None


@dataclass(frozen=True)
class StreamSource:
    """A Kinesis event source mapping."""

    function: str
    stream_name: str
    stream_arn: str
    batch_size: int
    max_retry_attempts: int | None  # None: -1, until the record's age or expiry
    max_record_age_s: int | None  # None: -1
    parallelization: int
    on_failure: str | None  # the destination's ARN: an SQS queue or an S3 bucket
    retention_s: int


@dataclass(frozen=True)
class Deployment:
    stack: Stack
    function_timeout_s: int
    environments: dict[str, dict[str, str]]  # by mapping: the queues' names ("sqs", ...) and "kinesis"
    queues: list[QueueSource]
    stream: StreamSource


def deploy_defaults(url: str, sqs: Any, kinesis: Any, sink: MixpanelSink, *, shards: int) -> Deployment:
    """The stack at the template's defaults, with the sink's service account and token in its secret."""
    template = Template.read(ROOT / "template.yaml")
    kinesis.create_stream(StreamName="outage-events", ShardCount=shards)
    stream = kinesis.describe_stream_summary(StreamName="outage-events")["StreamDescriptionSummary"]
    kinesis.get_waiter("stream_exists").wait(StreamName="outage-events")
    assert sink.token is not None
    params = template.parameter_values(
        SourceStreamArn=stream["StreamARN"],
        MixpanelProjectId="4242",
        MixpanelServiceAccountUsername="sink-user",
        MixpanelServiceAccountSecret="sink-secret",
        MixpanelProjectToken=sink.token,
    )
    stack = deploy(url, template, params)
    deployed = template.deployed(stack.known)
    timeout = int(deployed.evaluate(template.document["Globals"]["Function"]["Timeout"], params))
    environments: dict[str, dict[str, str]] = {}
    queues: list[QueueSource] = []
    stream_source: StreamSource | None = None
    for function in (SQS_FUNCTION, KINESIS_FUNCTION):
        environment = _environment(deployed, function, params, stack)
        for key, event in deployed.evaluate(template.resources[function]["Properties"]["Events"], params).items():
            properties = event["Properties"]
            if event["Type"] == "SQS":
                name = "sqs" if properties["Queue"] == stack.known.get("SourceQueue.Arn") else key
                queues.append(_queue_source(sqs, name, function, properties))
                environments[name] = environment
            else:
                stream_source = _stream_source(function, properties, stream)
                environments["kinesis"] = environment
    for key, resource in template.resources_of_type("AWS::Lambda::EventSourceMapping").items():
        if not _exists(template, key, params):
            continue
        properties = deployed.evaluate(resource["Properties"], params)
        named = resource["Properties"]["FunctionName"]
        function = named["Ref"] if isinstance(named, dict) else named
        if ":sqs:" in str(properties["EventSourceArn"]):
            queues.append(_queue_source(sqs, key, function, {**properties, "Queue": properties["EventSourceArn"]}))
            environments[key] = environments["sqs" if function == SQS_FUNCTION else "kinesis"]
    assert stream_source is not None, "the template has no Kinesis event source"
    fifo = _fifo_queue(sqs, next(q for q in queues if q.name == "sqs"))
    queues.append(fifo)
    fifo_params = {**params, "SourceQueueArn": _arn(sqs, fifo.queue_url)}
    environments["sqs-fifo"] = _environment(deployed, SQS_FUNCTION, fifo_params, stack)
    return Deployment(stack, timeout, environments, queues, stream_source)


def _exists(template: Template, name: str, params: Mapping[str, Any]) -> bool:
    condition = template.resources[name].get("Condition")
    return condition is None or template.condition_holds(condition, params)


def _environment(deployed: Template, function: str, params: Mapping[str, Any], stack: Stack) -> dict[str, str]:
    """The function's variables as deployed for `params`, and the AWS ones Lambda gives it (deployed.py's)."""
    inherited = deployed.document.get("Globals", {}).get("Function", {}).get("Environment", {})
    own = deployed.resources[function]["Properties"].get("Environment", {})
    variables = deployed.evaluate(deep_merge(inherited, own).get("Variables", {}), params)
    made = stack.functions[function].environment
    aws = {name: value for name, value in made.items() if name.startswith("AWS_")}
    return {**{name: as_text(value) for name, value in variables.items()}, **aws}


def _queue_source(sqs: Any, name: str, function: str, properties: Mapping[str, Any]) -> QueueSource:
    url = sqs.get_queue_url(QueueName=str(properties["Queue"]).rsplit(":", 1)[-1])["QueueUrl"]
    fifo = url.endswith(".fifo")
    return _described(
        sqs,
        name,
        function,
        url,
        batch_size=min(int(properties.get("BatchSize", 10)), FIFO_BATCH_MAX) if fifo else int(properties["BatchSize"]),
        window_s=0.0 if fifo else float(properties.get("MaximumBatchingWindowInSeconds", 0)),
        max_concurrency=int(properties.get("ScalingConfig", {}).get("MaximumConcurrency", 1000)),
    )


def _described(sqs: Any, name: str, function: str, url: str, **mapping: Any) -> QueueSource:
    names = ["VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
    dead_letter = None
    if redrive:
        dead_letter = sqs.get_queue_url(QueueName=redrive["deadLetterTargetArn"].rsplit(":", 1)[-1])["QueueUrl"]
    return QueueSource(
        name=name,
        function=function,
        queue_url=url,
        visibility_timeout_s=int(attributes["VisibilityTimeout"]),
        retention_s=int(attributes["MessageRetentionPeriod"]),
        max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
        dead_letter_url=dead_letter,
        **mapping,
    )


def _fifo_queue(sqs: Any, created: QueueSource) -> QueueSource:
    """A FIFO queue with the created queue's settings and a FIFO dead-letter queue, read by the SQS function."""
    dlq = sqs.create_queue(
        QueueName="outage-users-dlq.fifo",
        Attributes={"FifoQueue": "true", "MessageRetentionPeriod": "1209600"},
    )["QueueUrl"]
    redrive = {"deadLetterTargetArn": _arn(sqs, dlq), "maxReceiveCount": str(created.max_receive_count or 5)}
    url = sqs.create_queue(
        QueueName="outage-users.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": str(created.visibility_timeout_s),
            "MessageRetentionPeriod": str(created.retention_s),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return _described(
        sqs,
        "sqs-fifo",
        created.function,
        url,
        batch_size=min(created.batch_size, FIFO_BATCH_MAX),
        window_s=0.0,
        max_concurrency=created.max_concurrency,
    )


def _stream_source(function: str, properties: Mapping[str, Any], stream: Mapping[str, Any]) -> StreamSource:
    retries = int(properties.get("MaximumRetryAttempts", -1))
    age = int(properties.get("MaximumRecordAgeInSeconds", -1))
    on_failure = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    return StreamSource(
        function=function,
        stream_name=stream["StreamName"],
        stream_arn=stream["StreamARN"],
        batch_size=int(properties.get("BatchSize", 100)),
        max_retry_attempts=None if retries < 0 else retries,
        max_record_age_s=None if age < 0 else age,
        parallelization=int(properties.get("ParallelizationFactor", 1)),
        on_failure=str(on_failure) if on_failure else None,
        retention_s=int(stream["RetentionPeriodHours"]) * 3600,
    )


def _arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn
