"""The dashboard: valid JSON that graphs every metric the code emits, and the queues and functions the stack has."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mixpanel_forwarder.metrics import (
    NAMESPACE,
    SOURCE_DIMENSION,
)
from mixpanel_forwarder.sources import sqs
from tests.integration.template import (
    FUNCTIONS,
    KINESIS_FUNCTION,
    QUEUE_ARN,
    RESOURCES,
    SQS_FUNCTION,
    STREAM_ARN,
    TEMPLATE,
    emitted_metrics,
    evaluate,
    parameter_values,
    placeholder,
)

SOURCE_CHOICES = [
    pytest.param({}, id="created-queue"),
    pytest.param({"SourceQueueArn": QUEUE_ARN}, id="given-queue"),
    pytest.param({"SourceStreamArn": STREAM_ARN}, id="created-queue-and-stream"),
    pytest.param({"SourceQueueArn": QUEUE_ARN, "SourceStreamArn": STREAM_ARN}, id="given-queue-and-stream"),
]


def rendered(value: Any) -> str:
    """An evaluated DashboardBody as text: Fn::Join joined, and each ${name} of an Fn::Sub replaced by its variable's
    value when that is already known, else by placeholder(name)."""
    if isinstance(value, str):
        return value
    ((key, argument),) = value.items()
    if key == "Fn::Join":
        separator, items = argument
        return str(separator).join(rendered(item) for item in items)
    assert key == "Fn::Sub", f"unexpected {key} in the dashboard body"
    text, variables = (argument, {}) if isinstance(argument, str) else argument

    def substitute(match: re.Match[str]) -> str:
        known = variables.get(match.group(1))
        return known if isinstance(known, str) else placeholder(match.group(1))

    return re.sub(r"\$\{([^}!][^}]*)\}", substitute, text)


def dashboard(**overrides: Any) -> dict[str, Any]:
    body = evaluate(RESOURCES["Dashboard"]["Properties"]["DashboardBody"], parameter_values(**overrides))
    document = json.loads(rendered(body))
    assert isinstance(document, dict)
    return document


def dashboard_metrics(**overrides: Any) -> list[tuple[str, str, dict[str, str]]]:
    """Every metric the dashboard graphs, as (namespace, name, dimensions)."""
    shown = []
    for widget in dashboard(**overrides)["widgets"]:
        if widget["type"] != "metric":
            continue
        assert widget["properties"]["region"] == placeholder("AWS::Region")
        for row in widget["properties"]["metrics"]:
            namespace, name, *pairs = [item for item in row if isinstance(item, str)]
            assert "." not in (namespace, name, *pairs), "write rows out in full: the tests read them"
            assert len(pairs) % 2 == 0, row
            shown.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return shown


@pytest.mark.parametrize("overrides", SOURCE_CHOICES)
def test_dashboard_body_is_json_and_graphs_only_metrics_the_code_emits(overrides: dict[str, Any]) -> None:
    emitted = emitted_metrics()

    for namespace, name, dimensions in dashboard_metrics(**overrides):
        if namespace == NAMESPACE:
            assert name in emitted, f"the code never writes {name}"
            assert dimensions in emitted[name], f"{name} is written with {emitted[name]}, not {dimensions}"


@pytest.mark.parametrize("overrides", SOURCE_CHOICES)
def test_dashboard_graphs_every_metric_the_code_emits_for_the_functions_the_stack_has(
    overrides: dict[str, Any],
) -> None:
    shown = {
        (name, tuple(sorted(dimensions.items())))
        for namespace, name, dimensions in dashboard_metrics(**overrides)
        if namespace == NAMESPACE
    }
    emitted = {
        (name, tuple(sorted(dimensions.items())))
        for name, dimension_sets in emitted_metrics().items()
        for dimensions in dimension_sets
    }
    of_sqs_function = {
        (name, dimensions)
        for name, dimensions in emitted
        if (SOURCE_DIMENSION, sqs.NAME) in dimensions or ("function_name", placeholder(SQS_FUNCTION)) in dimensions
    }

    if "SourceStreamArn" in overrides:
        assert shown == emitted
    else:  # the pipeline widgets keep their Source=kinesis lines (no data); the Kinesis function's own are left out
        assert of_sqs_function <= shown


@pytest.mark.parametrize("overrides", SOURCE_CHOICES)
def test_dashboard_graphs_the_queues_and_functions_the_stack_has(overrides: dict[str, Any]) -> None:
    created_queue = "SourceQueueArn" not in overrides
    has_stream = "SourceStreamArn" in overrides
    shown = dashboard_metrics(**overrides)

    queues = {dims["QueueName"] for namespace, _, dims in shown if namespace == "AWS/SQS"}
    functions = {dims["FunctionName"] for namespace, _, dims in shown if namespace == "AWS/Lambda"}
    lambda_metrics = {(name, dims["FunctionName"]) for namespace, name, dims in shown if namespace == "AWS/Lambda"}

    expected_queues = {placeholder("ParkedEventsQueue.QueueName")}
    expected_queues.add(placeholder("SourceQueueName") if created_queue else "orders.fifo")
    if created_queue:
        expected_queues.add(placeholder("SourceDeadLetterQueue.QueueName"))
    if has_stream:  # failed Kinesis batches waiting to be forwarded again, and those that could not be
        expected_queues |= {
            placeholder("KinesisRetryQueue.QueueName"),
            placeholder("KinesisRetryDeadLetterQueue.QueueName"),
        }
    assert queues == expected_queues
    assert functions == {placeholder(f) for f in FUNCTIONS if f == SQS_FUNCTION or has_stream}
    for function in functions:
        assert {("Duration", function), ("Errors", function), ("Throttles", function)} <= lambda_metrics
    assert (("IteratorAge", placeholder(KINESIS_FUNCTION)) in lambda_metrics) == has_stream
    ages = {dims["QueueName"] for _, name, dims in shown if name == "ApproximateAgeOfOldestMessage"}
    retry_queue = {placeholder("KinesisRetryQueue.QueueName")} if has_stream else set()
    assert ages == {placeholder("SourceQueueName") if created_queue else "orders.fifo"} | retry_queue


def test_dashboard_is_named_per_region_and_its_url_is_an_output() -> None:
    # Dashboards are global to the account: the same stack name in two regions must not share one.
    assert RESOURCES["Dashboard"]["Type"] == "AWS::CloudWatch::Dashboard"
    assert RESOURCES["Dashboard"]["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}
    assert "Condition" not in RESOURCES["Dashboard"]
    outputs = TEMPLATE["Outputs"]
    assert outputs["DashboardName"]["Value"] == {"Ref": "Dashboard"}
    url = outputs["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}")
    assert url.endswith("#dashboards:name=${Dashboard}")
    assert outputs["AlarmTopicArn"] == {
        "Condition": "HasAlarmEmail",
        "Description": outputs["AlarmTopicArn"]["Description"],
        "Value": {"Ref": "AlarmTopic"},
    }
