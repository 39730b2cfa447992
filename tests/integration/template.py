"""template.yaml, read once through the evaluator (cfn.py), and what several test_template_*.py files ask of it.

Neither cfn-lint nor `sam validate` checks the values that matter here (a `ReportBatchItemFailure` typo, an
infinite retry, a short visibility timeout, a wildcard resource all pass them), so those tests read template.yaml
itself. Values that come from parameters are checked at the parameters' defaults and, where a rule must hold for
every choice, at every allowed value. Here: the functions' names, expressions the template repeats, a function's
settings and role, and the metrics the code emits.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from localdev.cfn import Template, as_list
from mixpanel_forwarder import metrics as invocation_metrics
from mixpanel_forwarder.delivery_stats import DeliveryStats
from mixpanel_forwarder.ledger import Ledger
from mixpanel_forwarder.metrics import NAMESPACE
from mixpanel_forwarder.model import SourceKind
from mixpanel_forwarder.result import Result
from mixpanel_forwarder.sources import kinesis, sqs

ROOT = Path(__file__).resolve().parents[2]
STACK = Template.read(ROOT / "template.yaml")
TEMPLATE = STACK.document
PARAMETERS = STACK.parameters
RESOURCES = STACK.resources
CONDITIONS = STACK.conditions
GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE.get("Globals", {}).get("Function", {})
parameter_values = STACK.parameter_values
condition_holds = STACK.condition_holds
evaluate = STACK.evaluate
resources_of_type = STACK.resources_of_type
chosen = STACK.chosen

SQS_FUNCTION = "SqsForwarderFunction"
KINESIS_FUNCTION = "KinesisForwarderFunction"
FUNCTIONS = (SQS_FUNCTION, KINESIS_FUNCTION)
SECRET_ARN_EXPRESSION = {
    "Fn::If": [
        "CreateCredentialsSecret",
        {"Ref": "MixpanelCredentialsSecret"},
        {"Ref": "MixpanelCredentialsSecretArn"},
    ]
}
SOURCE_QUEUE_ARN_EXPRESSION = {
    "Fn::If": ["CreateSourceQueue", {"Fn::GetAtt": ["SourceQueue", "Arn"]}, {"Ref": "SourceQueueArn"}]
}
FAILED_BATCHES_BUCKET_ARN = {"Fn::GetAtt": ["KinesisFailedBatchesBucket", "Arn"]}
FAILED_BATCHES = {"Fn::Sub": "${KinesisFailedBatchesBucket.Arn}/*"}  # the bucket's objects
RETRY_QUEUE_ARN = {"Fn::GetAtt": ["KinesisRetryQueue", "Arn"]}
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/product-events"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mixpanel/prod-AbC123"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"  # a customer managed key's
X_RAY_WRITE_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def function_property(function: str, key: str) -> Any:
    """A function's property as SAM sees it: its own value, else the Globals one (maps are merged)."""
    own = RESOURCES[function]["Properties"].get(key)
    inherited = GLOBAL_FUNCTION.get(key)
    if isinstance(own, dict) and isinstance(inherited, dict):
        return deep_merge(inherited, own)
    return own if own is not None else inherited


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(merged.get(key), dict) else value
    return merged


def environment(function: str) -> dict[str, Any]:
    variables = function_property(function, "Environment")["Variables"]
    assert isinstance(variables, dict)
    return variables


def single_event(function: str) -> dict[str, Any]:
    events = RESOURCES[function]["Properties"]["Events"]
    assert len(events) == 1, f"{function} should have exactly one event source, has {sorted(events)}"
    (event,) = events.values()
    assert isinstance(event, dict)
    return event


def role_grants(function: str, params: Mapping[str, Any] | None = None) -> dict[str, list[Any]]:
    """The function's execution role as {action: [resources]}, for the parameters (default: the defaults)."""
    params = parameter_values() if params is None else params
    role_ref = RESOURCES[function]["Properties"]["Role"]
    assert role_ref.get("Fn::GetAtt", [None])[1:] == ["Arn"], f"{function}'s Role should be a role of this stack"
    role = RESOURCES[role_ref["Fn::GetAtt"][0]]
    grants: dict[str, list[Any]] = {}
    for policy in chosen(role["Properties"]["Policies"], params):
        for statement in chosen(policy["PolicyDocument"]["Statement"], params):
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                grants.setdefault(action, []).extend(as_list(statement["Resource"]))
    return grants


def placeholder(name: str) -> str:
    """What stands for a ${name} of Fn::Sub once the template is rendered here (no stack, no values)."""
    return f"<{name}>"


@functools.cache
def emitted_metrics() -> dict[str, list[dict[str, str]]]:
    """{metric name: [its dimension sets]}, read from the EMF documents the code itself writes: an invocation of
    each source kind, a failed invocation of each source, and each function's cold start."""
    delivery = DeliveryStats()
    delivery.latencies_ms.append(1.0)
    documents: list[dict[str, Any]] = []
    try:
        for kind in SourceKind:
            source_name = kinesis.NAME if kind is SourceKind.KINESIS else sqs.NAME
            invocation_metrics.publish(Result(source_name, kind, 0, Ledger(0), delivery, []))
            documents.append(invocation_metrics.metrics.serialize_metric_set())
        for source in (sqs, kinesis):
            invocation_metrics.invocation_failed(source.NAME)
            documents.append(invocation_metrics.metrics.serialize_metric_set())
    finally:
        invocation_metrics.metrics.clear_metrics()
    for function in FUNCTIONS:
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            context = SimpleNamespace(function_name=placeholder(function))
            invocation_metrics.metrics.add_cold_start_metric(context)
        documents.append(json.loads(output.getvalue()))
    emitted: dict[str, list[dict[str, str]]] = {}
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            for dimension_names in directive["Dimensions"]:
                dimensions = {name: document[name] for name in dimension_names}
                for metric in directive["Metrics"]:
                    if dimensions not in emitted.setdefault(metric["Name"], []):
                        emitted[metric["Name"]].append(dimensions)
    return emitted
