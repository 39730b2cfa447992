"""The SAM template's own settings: what keeps a queue or a stream safe, least privilege, what users choose.

Neither cfn-lint nor `sam validate` checks the values that matter here (a `ReportBatchItemFailure` typo, an
infinite retry, a short visibility timeout, a wildcard resource all pass them), so these tests read
template.yaml itself. Values that come from parameters are checked at the parameters' defaults and, where a
rule must hold for every choice, at every allowed value.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from mixpanel_forwarder import metrics as invocation_metrics
from mixpanel_forwarder.delivery import DeliveryStats
from mixpanel_forwarder.ledger import Ledger
from mixpanel_forwarder.metrics import (
    EVENTS_REPORTED,
    INVOCATION_ERRORS,
    NAMESPACE,
    PARK_FAILURES,
    REQUESTS_PREFIX,
    SERVICE,
    SOURCE_DIMENSION,
)
from mixpanel_forwarder.model import SourceKind
from mixpanel_forwarder.result import Result
from mixpanel_forwarder.runtime import TRACING_ENABLED
from mixpanel_forwarder.sources import kinesis, sqs

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

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
PARKED_QUEUE_ARN = {"Fn::GetAtt": ["ParkedEventsQueue", "Arn"]}
ON_FAILURE_QUEUE_ARN = {"Fn::GetAtt": ["KinesisOnFailureQueue", "Arn"]}
FOURTEEN_DAYS = 14 * 24 * 3600
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/product-events"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
X_RAY_WRITE_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short forms (!Ref, !GetAtt, !Sub, !If, ...) as their long forms."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":  # !GetAtt Resource.Attribute is Fn::GetAtt: [Resource, Attribute]
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _short_form)


def load_template(text: str) -> dict[str, Any]:
    document = yaml.load(text, Loader=CloudFormationLoader)
    assert isinstance(document, dict)
    return document


TEMPLATE = load_template(TEMPLATE_PATH.read_text())
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
CONDITIONS: dict[str, Any] = TEMPLATE.get("Conditions", {})
MAPPINGS: dict[str, Any] = TEMPLATE.get("Mappings", {})
GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE.get("Globals", {}).get("Function", {})


# --- helpers: evaluate intrinsic functions the way CloudFormation would for chosen parameter values ---------------


def parameter_values(**overrides: Any) -> dict[str, Any]:
    """Every parameter at its default (a placeholder for the one without), then the overrides."""
    values = {name: spec.get("Default", "1234") for name, spec in PARAMETERS.items()}
    values.update(overrides)
    return values


def condition_holds(name: str, params: Mapping[str, Any]) -> bool:
    return bool(evaluate({"Condition": name}, params))


class _Absent:
    """What `Ref: AWS::NoValue` leaves: the property or list item disappears."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


def evaluate(value: Any, params: Mapping[str, Any]) -> Any:
    """Resolves Ref to parameters, AWS::NoValue, Fn::If, Fn::FindInMap, the condition functions, and Fn::Split,
    Fn::Select and Fn::Join over values already known; leaves the rest as is."""
    if isinstance(value, list):
        return [item for item in (evaluate(item, params) for item in value) if item is not ABSENT]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and argument in PARAMETERS:
            return params[argument]
        if key == "Ref" and argument == "AWS::NoValue":
            return ABSENT
        if key == "Fn::Split":
            delimiter, source = evaluate(argument, params)
            return source.split(delimiter) if isinstance(source, str) else {key: [delimiter, source]}
        if key == "Fn::Select":
            index, items = evaluate(argument, params)
            return items[int(index)] if isinstance(items, list) else {key: [index, items]}
        if key == "Fn::Join":
            separator, items = evaluate(argument, params)
            if isinstance(items, list) and all(isinstance(item, str) for item in items):
                return separator.join(items)
            return {key: [separator, items]}
        if key == "Condition":
            return evaluate(CONDITIONS[argument], params)
        if key == "Fn::If":
            name, when_true, when_false = argument
            return evaluate(when_true if condition_holds(name, params) else when_false, params)
        if key == "Fn::Equals":
            left, right = (str(evaluate(item, params)) for item in argument)
            return left == right
        if key == "Fn::Not":
            return not evaluate(argument[0], params)
        if key == "Fn::And":
            return all(evaluate(item, params) for item in argument)
        if key == "Fn::Or":
            return any(evaluate(item, params) for item in argument)
        if key == "Fn::FindInMap":
            mapping, first, second = (evaluate(item, params) for item in argument)
            return MAPPINGS[mapping][str(first)][str(second)]
    evaluated = {key: evaluate(item, params) for key, item in value.items()}
    return {key: item for key, item in evaluated.items() if item is not ABSENT}


def resources_of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in RESOURCES.items() if resource["Type"] == kind}


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


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def chosen(items: Any, params: Mapping[str, Any]) -> list[Any]:
    """A list whose items may be conditional (`Fn::If`, possibly `AWS::NoValue`): the items the parameters keep,
    themselves left as written."""
    kept = []
    for item in as_list(items):
        while isinstance(item, dict) and list(item) == ["Fn::If"]:
            name, when_true, when_false = item["Fn::If"]
            item = when_true if condition_holds(name, params) else when_false
        if item != {"Ref": "AWS::NoValue"}:
            kept.append(item)
    return kept


def policy_statements(params: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement in the template that the parameters keep: roles' inline policies, standalone policies,
    SAM Policies."""
    for name, role in resources_of_type("AWS::IAM::Role").items():
        for policy in chosen(role["Properties"].get("Policies", []), params):
            for statement in chosen(policy["PolicyDocument"]["Statement"], params):
                yield name, statement
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, policy in resources_of_type(kind).items():
            for statement in chosen(policy["Properties"]["PolicyDocument"]["Statement"], params):
                yield name, statement
    for name in FUNCTIONS:
        for policy in chosen(RESOURCES[name]["Properties"].get("Policies", []), params):
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in chosen(policy["Statement"], params):
                    yield name, statement


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


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)


def references_to(value: Any) -> set[str]:
    """Names used through Ref, Fn::GetAtt and ${...} in Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references_to(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(as_list(item)[0].split(".")[0])
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(item, list):
                    found |= references_to(item[1])
            else:
                found |= references_to(item)
    return found


# --- the loader itself ------------------------------------------------------------------------------------------


def test_loader_reads_short_forms_as_long_forms() -> None:
    document = load_template(
        "A: !Ref X\nB: !GetAtt Queue.Arn\nC: !Sub 'arn:${AWS::Partition}:x'\nD: !If [C, 1, 2]\nE: !Condition C\n"
    )

    assert document == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Queue", "Arn"]},
        "C": {"Fn::Sub": "arn:${AWS::Partition}:x"},
        "D": {"Fn::If": ["C", 1, 2]},
        "E": {"Condition": "C"},
    }


# --- what users choose --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "default", "allowed"),
    [
        ("MixpanelRegion", "US", ["US", "EU", "IN"]),
        ("KinesisStartingPosition", "LATEST", ["TRIM_HORIZON", "LATEST"]),
        ("Architecture", "arm64", ["arm64", "x86_64"]),
    ],
)
def test_choice_parameters_offer_the_documented_values(name: str, default: str, allowed: list[str]) -> None:
    assert PARAMETERS[name]["Default"] == default
    assert sorted(PARAMETERS[name]["AllowedValues"]) == sorted(allowed)


@pytest.mark.parametrize(
    ("name", "default", "low", "high"),
    [
        ("SqsBatchSize", 1000, 1, 10000),
        ("SqsMaximumBatchingWindowInSeconds", 5, 0, 300),
        ("SqsMaximumConcurrency", 5, 2, 1000),
        ("KinesisBatchSize", 1000, 1, 10000),
        ("KinesisParallelizationFactor", 1, 1, 10),
        ("KinesisMaximumRetryAttempts", 10, 0, 10000),
        ("KinesisMaximumRecordAgeInSeconds", 86400, 60, 604800),
        ("FunctionMemory", 256, 128, 10240),
    ],
)
def test_number_parameters_have_the_documented_default_and_range(name: str, default: int, low: int, high: int) -> None:
    spec = PARAMETERS[name]
    assert spec["Type"] == "Number"
    assert spec["Default"] == default
    assert (spec["MinValue"], spec["MaxValue"]) == (low, high)


def test_function_timeout_defaults_to_a_minute() -> None:
    assert PARAMETERS["FunctionTimeout"]["Default"] == 60
    assert 60 in PARAMETERS["FunctionTimeout"]["AllowedValues"]
    assert max(PARAMETERS["FunctionTimeout"]["AllowedValues"]) <= 900  # Lambda's limit


def test_project_id_is_digits_only() -> None:
    pattern = PARAMETERS["MixpanelProjectId"]["AllowedPattern"]

    assert re.fullmatch(pattern, "2195193")
    assert not re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "12a")


def test_optional_sources_and_secret_default_to_created_or_absent() -> None:
    defaults = parameter_values()

    assert condition_holds("CreateSourceQueue", defaults)
    assert not condition_holds("HasSourceStream", defaults)
    assert condition_holds("CreateCredentialsSecret", defaults)
    assert not condition_holds("CreateSourceQueue", parameter_values(SourceQueueArn="arn:aws:sqs:us-east-1:1:q"))
    assert condition_holds("HasSourceStream", parameter_values(SourceStreamArn="arn:aws:kinesis:us-east-1:1:stream/s"))


def test_service_account_parameters_default_to_empty_and_the_secret_is_not_echoed() -> None:
    assert PARAMETERS["MixpanelServiceAccountUsername"]["Default"] == ""
    assert PARAMETERS["MixpanelServiceAccountSecret"]["Default"] == ""
    assert PARAMETERS["MixpanelServiceAccountSecret"]["NoEcho"] is True


def test_existing_secret_must_be_named_by_its_complete_arn() -> None:
    pattern = PARAMETERS["MixpanelCredentialsSecretArn"]["AllowedPattern"]

    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mixpanel/prod-AbC123")
    assert not re.fullmatch(pattern, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mixpanel/prod")
    assert not re.fullmatch(pattern, "mixpanel/prod")


def test_a_created_secret_requires_both_service_account_parameters() -> None:
    rule = TEMPLATE["Rules"]["CredentialsGiven"]

    assert rule["RuleCondition"] == CONDITIONS["CreateCredentialsSecret"]
    asserted = [references_to(assertion["Assert"]) for assertion in rule["Assertions"]]
    assert {"MixpanelServiceAccountUsername"} in asserted
    assert {"MixpanelServiceAccountSecret"} in asserted


def test_default_sqs_batch_is_one_lambda_accepts() -> None:
    defaults = parameter_values()

    # A batch above 10 needs a batching window of at least one second.
    assert defaults["SqsBatchSize"] <= 10 or defaults["SqsMaximumBatchingWindowInSeconds"] >= 1
    rule = TEMPLATE["Rules"]["SqsLargeBatchesNeedAWindow"]
    assert references_to(rule) >= {"SqsBatchSize", "SqsMaximumBatchingWindowInSeconds"}


# --- the SQS source -----------------------------------------------------------------------------------------------


def test_sqs_mapping_reports_partial_batch_failures() -> None:
    event = single_event(SQS_FUNCTION)

    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_sqs_mapping_takes_its_settings_from_the_parameters() -> None:
    properties = single_event(SQS_FUNCTION)["Properties"]

    assert properties["Queue"] == SOURCE_QUEUE_ARN_EXPRESSION
    assert properties["BatchSize"] == {"Ref": "SqsBatchSize"}
    assert properties["MaximumBatchingWindowInSeconds"] == {"Ref": "SqsMaximumBatchingWindowInSeconds"}
    assert properties["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "SqsMaximumConcurrency"}}


def test_created_queue_redrives_to_its_dead_letter_queue_after_five_receives_or_more() -> None:
    queue = RESOURCES["SourceQueue"]
    redrive = queue["Properties"]["RedrivePolicy"]

    assert queue["Condition"] == "CreateSourceQueue"
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["SourceDeadLetterQueue", "Arn"]}
    assert RESOURCES["SourceDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    assert int(redrive["maxReceiveCount"]) >= 5


def test_created_queue_visibility_covers_six_timeouts_plus_the_window_at_the_defaults() -> None:
    defaults = parameter_values()

    visibility = evaluate(RESOURCES["SourceQueue"]["Properties"]["VisibilityTimeout"], defaults)

    assert int(visibility) >= 6 * defaults["FunctionTimeout"] + defaults["SqsMaximumBatchingWindowInSeconds"]


@pytest.mark.parametrize("timeout", PARAMETERS["FunctionTimeout"]["AllowedValues"])
def test_created_queue_visibility_covers_six_timeouts_plus_any_window(timeout: int) -> None:
    largest_window = PARAMETERS["SqsMaximumBatchingWindowInSeconds"]["MaxValue"]
    params = parameter_values(FunctionTimeout=timeout, SqsMaximumBatchingWindowInSeconds=largest_window)

    visibility = evaluate(RESOURCES["SourceQueue"]["Properties"]["VisibilityTimeout"], params)

    assert int(visibility) >= 6 * timeout + largest_window
    assert int(visibility) <= 43200  # SQS's limit


def test_every_queue_is_encrypted_at_rest() -> None:
    queues = resources_of_type("AWS::SQS::Queue")

    assert set(queues) >= {"SourceQueue", "SourceDeadLetterQueue", "ParkedEventsQueue", "KinesisOnFailureQueue"}
    unencrypted = [
        name
        for name, queue in queues.items()
        if queue["Properties"].get("SqsManagedSseEnabled") is not True and "KmsMasterKeyId" not in queue["Properties"]
    ]
    assert unencrypted == []


def test_parked_events_queue_takes_the_largest_message_and_keeps_it_fourteen_days() -> None:
    properties = RESOURCES["ParkedEventsQueue"]["Properties"]

    assert properties["MaximumMessageSize"] == 1048576
    assert properties["MessageRetentionPeriod"] == FOURTEEN_DAYS
    assert "Condition" not in RESOURCES["ParkedEventsQueue"]


@pytest.mark.parametrize(
    "queue", ["SourceQueue", "SourceDeadLetterQueue", "ParkedEventsQueue", "KinesisOnFailureQueue"]
)
def test_queues_holding_events_outlive_the_stack(queue: str) -> None:
    assert RESOURCES[queue]["DeletionPolicy"] == "Retain"
    assert RESOURCES[queue]["UpdateReplacePolicy"] == "Retain"


# --- the Kinesis source -------------------------------------------------------------------------------------------


def test_kinesis_mapping_reports_partial_batch_failures_and_bisects() -> None:
    event = single_event(KINESIS_FUNCTION)

    assert event["Type"] == "Kinesis"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["BisectBatchOnFunctionError"] is True


def test_kinesis_mapping_gives_up_after_finite_retries_and_age() -> None:
    properties = single_event(KINESIS_FUNCTION)["Properties"]
    defaults = parameter_values()

    retries = properties["MaximumRetryAttempts"]
    age = properties["MaximumRecordAgeInSeconds"]

    assert retries == {"Ref": "KinesisMaximumRetryAttempts"}
    assert PARAMETERS["KinesisMaximumRetryAttempts"]["MinValue"] >= 0  # -1 would retry until the record expires
    assert 0 <= evaluate(retries, defaults) <= 10000
    assert age == {"Ref": "KinesisMaximumRecordAgeInSeconds"}
    assert PARAMETERS["KinesisMaximumRecordAgeInSeconds"]["MinValue"] >= 60  # -1 would mean "never too old"
    assert 60 <= evaluate(age, defaults) <= 604800


def test_kinesis_mapping_sends_what_it_gives_up_on_to_the_on_failure_queue() -> None:
    properties = single_event(KINESIS_FUNCTION)["Properties"]

    assert properties["DestinationConfig"] == {"OnFailure": {"Destination": ON_FAILURE_QUEUE_ARN}}
    assert RESOURCES["KinesisOnFailureQueue"]["Type"] == "AWS::SQS::Queue"


def test_kinesis_mapping_takes_its_settings_from_the_parameters() -> None:
    properties = single_event(KINESIS_FUNCTION)["Properties"]

    assert properties["Stream"] == {"Ref": "SourceStreamArn"}
    assert properties["StartingPosition"] == {"Ref": "KinesisStartingPosition"}
    assert properties["ParallelizationFactor"] == {"Ref": "KinesisParallelizationFactor"}
    assert properties["BatchSize"] == {"Ref": "KinesisBatchSize"}


@pytest.mark.parametrize(
    "resource",
    ["KinesisForwarderFunction", "KinesisForwarderRole", "KinesisForwarderLogGroup", "KinesisOnFailureQueue"],
)
def test_kinesis_resources_exist_only_with_a_stream(resource: str) -> None:
    assert RESOURCES[resource]["Condition"] == "HasSourceStream"


# --- the functions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "folder"), [(SQS_FUNCTION, "sqs_forwarder"), (KINESIS_FUNCTION, "kinesis_forwarder")]
)
def test_functions_run_the_handler_on_python_3_13(function: str, folder: str) -> None:
    assert function_property(function, "Runtime") == "python3.13"
    assert function_property(function, "Handler") == "app.lambda_handler"
    assert function_property(function, "CodeUri") == f"functions/{folder}/"
    assert (ROOT / "functions" / folder / "app.py").is_file()
    assert RESOURCES[function]["Metadata"]["BuildMethod"] == "makefile"
    assert f"build-{function}:" in (ROOT / "functions" / folder / "Makefile").read_text()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_run_on_arm64_with_the_arm64_layer_by_default(function: str) -> None:
    defaults = parameter_values()

    assert evaluate(function_property(function, "Architectures"), defaults) == ["arm64"]
    assert evaluate(function_property(function, "Layers"), defaults) == [{"Ref": "ForwarderLayerArm64"}]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_use_the_layer_built_for_the_chosen_architecture(function: str) -> None:
    for architecture in PARAMETERS["Architecture"]["AllowedValues"]:
        params = parameter_values(Architecture=architecture)

        (layer_ref,) = evaluate(function_property(function, "Layers"), params)
        layer = RESOURCES[layer_ref["Ref"]]

        assert evaluate(function_property(function, "Architectures"), params) == [architecture]
        assert layer["Properties"]["CompatibleArchitectures"] == [architecture]
        assert condition_holds(layer["Condition"], params)


@pytest.mark.parametrize(
    ("layer", "architecture", "platform"),
    [
        ("ForwarderLayerArm64", "arm64", "manylinux2014_aarch64"),
        ("ForwarderLayerX8664", "x86_64", "manylinux2014_x86_64"),
    ],
)
def test_each_layer_is_built_for_its_own_architecture(layer: str, architecture: str, platform: str) -> None:
    resource = RESOURCES[layer]
    makefile = (ROOT / "layers" / "forwarder" / "Makefile").read_text()

    assert resource["Type"] == "AWS::Serverless::LayerVersion"
    assert resource["Properties"]["ContentUri"] == "layers/forwarder/"
    assert resource["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert resource["Properties"]["CompatibleArchitectures"] == [architecture]
    assert resource["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": architecture}
    assert condition_holds(resource["Condition"], parameter_values(Architecture=architecture))
    assert re.search(rf"^build-{layer}: PLATFORM := {platform}$", makefile, re.MULTILINE)


def test_layers_are_deployed_only_for_their_architecture() -> None:
    layers = resources_of_type("AWS::Serverless::LayerVersion")

    for architecture in PARAMETERS["Architecture"]["AllowedValues"]:
        params = parameter_values(Architecture=architecture)
        deployed = [name for name, layer in layers.items() if condition_holds(layer["Condition"], params)]
        assert len(deployed) == 1, f"{architecture}: {deployed}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_get_every_setting_they_read(function: str) -> None:
    variables = environment(function)

    assert variables["MIXPANEL_REGION"] == {"Ref": "MixpanelRegion"}
    assert variables["MIXPANEL_PROJECT_ID"] == {"Ref": "MixpanelProjectId"}
    assert variables["MIXPANEL_CREDENTIALS_SECRET_ARN"] == SECRET_ARN_EXPRESSION
    assert variables["DEAD_LETTER_QUEUE_URL"] == {"Ref": "ParkedEventsQueue"}  # Ref of a queue is its URL
    assert isinstance(variables["POWERTOOLS_SERVICE_NAME"], str)
    assert variables["POWERTOOLS_SERVICE_NAME"]
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_environment_variable_holds_a_secret(function: str) -> None:
    variables = environment(function)
    hidden = {name for name, spec in PARAMETERS.items() if spec.get("NoEcho")}
    credentials = {"MixpanelServiceAccountUsername", "MixpanelServiceAccountSecret", "MixpanelCredentialsSecret"}

    assert hidden, "the service account secret parameter should be NoEcho"
    for name, value in variables.items():
        assert not references_to(value) & hidden, f"{name} carries a NoEcho parameter"
        assert not (references_to(value) - {"MixpanelCredentialsSecret"}) & credentials, f"{name} carries a credential"
        assert not any("{{resolve:" in text for text in strings_in(value)), f"{name} resolves a secret's value"
        if re.search(r"SECRET|TOKEN|PASSWORD", name):
            assert name.endswith("_ARN"), f"{name} looks like a secret value"


def test_the_secret_value_parameters_reach_only_the_created_secret() -> None:
    users = {
        name
        for name, resource in RESOURCES.items()
        if references_to(resource) & {"MixpanelServiceAccountUsername", "MixpanelServiceAccountSecret"}
    }

    assert users == {"MixpanelCredentialsSecret"}
    assert RESOURCES["MixpanelCredentialsSecret"]["Condition"] == "CreateCredentialsSecret"
    assert not references_to(TEMPLATE["Outputs"]) & {"MixpanelServiceAccountSecret"}
    assert not references_to(GLOBAL_FUNCTION) & {"MixpanelServiceAccountUsername", "MixpanelServiceAccountSecret"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_secret_is_read_through_its_arn_only(function: str) -> None:
    grants = role_grants(function)

    # Ref of an AWS::SecretsManager::Secret is its ARN; the parameter is an ARN by its AllowedPattern.
    assert RESOURCES["MixpanelCredentialsSecret"]["Type"] == "AWS::SecretsManager::Secret"
    assert grants["secretsmanager:GetSecretValue"] == [SECRET_ARN_EXPRESSION]
    assert [action for action in grants if action.startswith("secretsmanager:")] == ["secretsmanager:GetSecretValue"]


# --- least privilege ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tracing", ["false", "true"])
def test_no_policy_statement_uses_a_wildcard_resource_but_x_ray_writes_when_tracing(tracing: str) -> None:
    # X-Ray's two write actions support no resource-level permissions: with tracing on, "*" is their only
    # possible Resource. Nothing else may use a wildcard, and they only exist when tracing is on.
    params = parameter_values(EnableTracing=tracing, SourceStreamArn=STREAM_ARN)
    statements = list(policy_statements(params))

    assert statements, "the template should declare its functions' permissions"
    for owner, statement in statements:
        assert "NotResource" not in statement, owner
        assert "NotAction" not in statement, owner
        actions = as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, f"{owner}: wildcard action {action!r}"
        wildcards = [
            text for resource in as_list(statement["Resource"]) for text in strings_in(resource) if "*" in text
        ]
        if wildcards and tracing == "true" and sorted(actions) == X_RAY_WRITE_ACTIONS:
            assert as_list(statement["Resource"]) == ["*"], owner
            continue
        assert wildcards == [], f"{owner} {statement.get('Sid')}: wildcard resource {wildcards!r}"


def test_no_role_gets_managed_policies() -> None:
    # AWS's managed execution roles (AWSLambdaSQSQueueExecutionRole, ...) grant their actions on "*".
    for name, role in resources_of_type("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], name


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_use_their_own_role_so_sam_adds_no_wildcard_policies(function: str) -> None:
    # Without a Role, SAM generates one with AWSLambdaBasicExecutionRole and the event source's managed policy.
    properties = RESOURCES[function]["Properties"]

    assert "Role" in properties
    assert "Policies" not in properties


def test_sqs_function_may_do_only_what_it_needs_on_what_it_uses() -> None:
    grants = role_grants(SQS_FUNCTION)

    assert grants == {
        "logs:CreateLogStream": [{"Fn::GetAtt": ["SqsForwarderLogGroup", "Arn"]}],
        "logs:PutLogEvents": [{"Fn::GetAtt": ["SqsForwarderLogGroup", "Arn"]}],
        "sqs:ReceiveMessage": [SOURCE_QUEUE_ARN_EXPRESSION],
        "sqs:DeleteMessage": [SOURCE_QUEUE_ARN_EXPRESSION],
        "sqs:GetQueueAttributes": [SOURCE_QUEUE_ARN_EXPRESSION],
        "sqs:ChangeMessageVisibility": [SOURCE_QUEUE_ARN_EXPRESSION],
        "secretsmanager:GetSecretValue": [SECRET_ARN_EXPRESSION],
        "sqs:SendMessage": [PARKED_QUEUE_ARN],
    }
    assert single_event(SQS_FUNCTION)["Properties"]["Queue"] == SOURCE_QUEUE_ARN_EXPRESSION
    assert function_property(SQS_FUNCTION, "LoggingConfig") == {"LogGroup": {"Ref": "SqsForwarderLogGroup"}}


def test_kinesis_function_may_do_only_what_it_needs_on_what_it_uses() -> None:
    grants = role_grants(KINESIS_FUNCTION)
    stream = {"Ref": "SourceStreamArn"}

    assert grants == {
        "logs:CreateLogStream": [{"Fn::GetAtt": ["KinesisForwarderLogGroup", "Arn"]}],
        "logs:PutLogEvents": [{"Fn::GetAtt": ["KinesisForwarderLogGroup", "Arn"]}],
        "kinesis:DescribeStream": [stream],
        "kinesis:DescribeStreamSummary": [stream],
        "kinesis:GetRecords": [stream],
        "kinesis:GetShardIterator": [stream],
        "kinesis:ListShards": [stream],
        "secretsmanager:GetSecretValue": [SECRET_ARN_EXPRESSION],
        "sqs:SendMessage": [PARKED_QUEUE_ARN, ON_FAILURE_QUEUE_ARN],
    }
    assert single_event(KINESIS_FUNCTION)["Properties"]["Stream"] == stream
    assert function_property(KINESIS_FUNCTION, "LoggingConfig") == {"LogGroup": {"Ref": "KinesisForwarderLogGroup"}}


@pytest.mark.parametrize("role", ["SqsForwarderRole", "KinesisForwarderRole"])
def test_roles_can_be_assumed_by_lambda_only(role: str) -> None:
    statements = RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]

    assert statements == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


# --- operations: tracing ------------------------------------------------------------------------------------------


def test_tracing_is_off_unless_asked_for() -> None:
    spec = PARAMETERS["EnableTracing"]

    assert spec["Default"] == "false"
    assert sorted(spec["AllowedValues"]) == ["false", "true"]
    assert not condition_holds("TracingEnabled", parameter_values())
    assert condition_holds("TracingEnabled", parameter_values(EnableTracing="true"))


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(("tracing", "mode"), [("false", "PassThrough"), ("true", "Active")])
def test_tracing_switch_sets_active_tracing_and_the_handlers_switch(function: str, tracing: str, mode: str) -> None:
    params = parameter_values(EnableTracing=tracing)

    assert evaluate(function_property(function, "Tracing"), params) == mode  # PassThrough is Lambda's default
    assert evaluate(environment(function)[TRACING_ENABLED], params) == tracing  # what runtime.py reads


def test_the_layer_ships_the_x_ray_sdk_that_tracing_imports() -> None:
    requirements = (ROOT / "layers" / "forwarder" / "requirements.txt").read_text()

    assert re.search(r"^aws-xray-sdk==", requirements, re.MULTILINE)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_roles_may_write_traces_only_when_tracing(function: str) -> None:
    off = role_grants(function, parameter_values(EnableTracing="false"))
    on = role_grants(function, parameter_values(EnableTracing="true"))

    assert [action for action in off if action.startswith("xray:")] == []
    assert {action: on[action] for action in on if action.startswith("xray:")} == {
        action: ["*"] for action in X_RAY_WRITE_ACTIONS
    }
    assert {action: on[action] for action in on if not action.startswith("xray:")} == off


# --- operations: what the code emits, as the alarms and the dashboard must name it ---------------------------------


def placeholder(name: str) -> str:
    """What stands for a ${name} of Fn::Sub once the template is rendered here (no stack, no values)."""
    return f"<{name}>"


@functools.cache
def emitted_metrics() -> dict[str, list[dict[str, str]]]:
    """{metric name: [its dimension sets]}, read from the EMF documents the code itself writes: an invocation of
    each source kind, a failed invocation of each source, and each function's cold start (Powertools)."""
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
            invocation_metrics.metrics.provider.add_cold_start_metric(context)
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


def per_source(source: str) -> dict[str, str]:
    return {"service": SERVICE, SOURCE_DIMENSION: source}


def test_the_code_emits_what_the_template_is_built_on() -> None:
    emitted = emitted_metrics()

    # Sanity of the reading above: the counters the alarms use, for both sources, with exactly these dimensions.
    for name in (EVENTS_REPORTED, REQUESTS_PREFIX + "401", INVOCATION_ERRORS, PARK_FAILURES):
        assert emitted[name] == [per_source(sqs.NAME), per_source(kinesis.NAME)], name
    assert sorted(FUNCTIONS) == sorted(dims["function_name"][1:-1] for dims in emitted["ColdStart"])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_write_metrics_under_the_service_and_namespace_the_template_watches(function: str) -> None:
    variables = environment(function)

    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE
    assert variables.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE) == NAMESPACE
    assert variables.get("POWERTOOLS_METRICS_DISABLED", "false") == "false"


# --- operations: alarms -------------------------------------------------------------------------------------------

QUEUE_DEPTH = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
SOURCE_QUEUE_NAME_EXPRESSION = {"Fn::Select": [5, {"Fn::Split": [":", SOURCE_QUEUE_ARN_EXPRESSION]}]}


def _expected_alarms() -> dict[str, dict[str, Any]]:
    """Every alarm: its name suffix, condition, metric, dimensions, statistic and threshold (> threshold fires)."""

    def alarm(
        suffix: str,
        condition: str | None,
        metric: tuple[str, str],
        dimensions: dict[str, Any],
        statistic: str,
        threshold: Any,
    ) -> dict[str, Any]:
        return {
            "suffix": suffix,
            "condition": condition,
            "namespace": metric[0],
            "metric": metric[1],
            "dimensions": dimensions,
            "statistic": statistic,
            "threshold": threshold,
        }

    def queue(name: str) -> dict[str, Any]:
        return {"QueueName": {"Fn::GetAtt": [name, "QueueName"]}}

    alarms = {
        "ParkedEventsAlarm": alarm("parked-events", None, QUEUE_DEPTH, queue("ParkedEventsQueue"), "Maximum", 0),
        "SourceDeadLetterQueueAlarm": alarm(
            "source-dlq", "CreateSourceQueue", QUEUE_DEPTH, queue("SourceDeadLetterQueue"), "Maximum", 0
        ),
        "SourceQueueAgeAlarm": alarm(
            "source-queue-age",
            None,
            ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
            {"QueueName": SOURCE_QUEUE_NAME_EXPRESSION},
            "Maximum",
            15 * 60,
        ),
        "KinesisIteratorAgeAlarm": alarm(
            "kinesis-iterator-age",
            "HasSourceStream",
            ("AWS/Lambda", "IteratorAge"),
            {"FunctionName": {"Ref": KINESIS_FUNCTION}},
            "Maximum",
            3600 * 1000,
        ),
        "KinesisOnFailureAlarm": alarm(
            "kinesis-on-failure", "HasSourceStream", QUEUE_DEPTH, queue("KinesisOnFailureQueue"), "Maximum", 0
        ),
    }
    for prefix, source, function, condition in (
        ("Sqs", sqs.NAME, SQS_FUNCTION, None),
        ("Kinesis", kinesis.NAME, KINESIS_FUNCTION, "HasSourceStream"),
    ):
        custom = per_source(source)
        lambda_function = {"FunctionName": {"Ref": function}}
        alarms |= {
            f"{prefix}RetryAlarm": alarm(
                f"{source}-retries",
                condition,
                (NAMESPACE, EVENTS_REPORTED),
                custom,
                "Sum",
                {"Ref": "RetryAlarmThreshold"},
            ),
            f"{prefix}CredentialsAlarm": alarm(
                f"{source}-401", condition, (NAMESPACE, REQUESTS_PREFIX + "401"), custom, "Sum", 0
            ),
            f"{prefix}InvocationErrorsAlarm": alarm(
                f"{source}-invocation-errors", condition, (NAMESPACE, INVOCATION_ERRORS), custom, "Sum", 0
            ),
            f"{prefix}LambdaErrorsAlarm": alarm(
                f"{source}-lambda-errors", condition, ("AWS/Lambda", "Errors"), lambda_function, "Sum", 0
            ),
            f"{prefix}ThrottlesAlarm": alarm(
                f"{source}-throttles", condition, ("AWS/Lambda", "Throttles"), lambda_function, "Sum", 0
            ),
            f"{prefix}ParkingFailuresAlarm": alarm(
                f"{source}-parking-failures", condition, (NAMESPACE, PARK_FAILURES), custom, "Sum", 0
            ),
        }
    return alarms


EXPECTED_ALARMS = _expected_alarms()


def alarm_dimensions(alarm: str) -> dict[str, Any]:
    dimensions = RESOURCES[alarm]["Properties"]["Dimensions"]
    by_name = {dimension["Name"]: dimension["Value"] for dimension in dimensions}
    assert len(by_name) == len(dimensions), f"{alarm} names a dimension twice"
    return by_name


def operating_it() -> str:
    """README.md's runbook section."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^## Operating it\n(.*?)^## ", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md should have an '## Operating it' section followed by another section"
    return match.group(1)


def test_the_template_has_exactly_the_alarms_the_runbook_covers() -> None:
    assert set(resources_of_type("AWS::CloudWatch::Alarm")) == set(EXPECTED_ALARMS)


@pytest.mark.parametrize("alarm", sorted(EXPECTED_ALARMS))
def test_alarm_watches_its_metric_and_exists_only_with_what_it_watches(alarm: str) -> None:
    expected = EXPECTED_ALARMS[alarm]
    resource = RESOURCES[alarm]
    properties = resource["Properties"]

    assert resource.get("Condition") == expected["condition"]
    assert properties["Namespace"] == expected["namespace"]
    assert properties["MetricName"] == expected["metric"]
    assert alarm_dimensions(alarm) == expected["dimensions"]
    assert properties["Statistic"] == expected["statistic"]
    assert properties["Threshold"] == expected["threshold"]
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert (properties["Period"], properties["EvaluationPeriods"]) == (300, 1)
    # No data (a quiet queue, a function nobody invoked) is not a problem.
    assert properties["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("alarm", sorted(name for name, a in EXPECTED_ALARMS.items() if a["namespace"] == NAMESPACE))
def test_custom_metric_alarms_watch_a_metric_the_code_emits_with_its_exact_dimensions(alarm: str) -> None:
    properties = RESOURCES[alarm]["Properties"]
    dimensions = alarm_dimensions(alarm)

    # CloudWatch matches a metric only with exactly the dimensions it was written with.
    assert dimensions in emitted_metrics()[properties["MetricName"]]
    is_kinesis = RESOURCES[alarm].get("Condition") == "HasSourceStream"
    assert dimensions[SOURCE_DIMENSION] == (kinesis.NAME if is_kinesis else sqs.NAME)


def test_queue_age_alarm_watches_the_created_queue_or_the_given_one() -> None:
    def queue_name(**overrides: Any) -> Any:
        return evaluate(alarm_dimensions("SourceQueueAgeAlarm")["QueueName"], parameter_values(**overrides))

    # An SQS queue ARN is arn:partition:sqs:region:account:name: its sixth part is the QueueName dimension.
    assert queue_name(SourceQueueArn=QUEUE_ARN) == "orders.fifo"
    assert queue_name() == {"Fn::Select": [5, {"Fn::Split": [":", {"Fn::GetAtt": ["SourceQueue", "Arn"]}]}]}


def test_retry_alarm_threshold_is_a_count_per_five_minutes_with_a_default() -> None:
    spec = PARAMETERS["RetryAlarmThreshold"]

    assert spec["Type"] == "Number"
    assert spec["Default"] == 100
    assert spec["MinValue"] == 0
    assert "RetryAlarmThreshold" in references_to(RESOURCES["SqsRetryAlarm"]["Properties"]["AlarmDescription"])


@pytest.mark.parametrize("alarm", sorted(EXPECTED_ALARMS))
def test_every_alarm_is_named_for_its_stack_and_says_where_its_runbook_is(alarm: str) -> None:
    properties = RESOURCES[alarm]["Properties"]
    suffix = EXPECTED_ALARMS[alarm]["suffix"]
    description = properties["AlarmDescription"]
    text = description if isinstance(description, str) else description["Fn::Sub"]

    assert properties["AlarmName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}
    assert len(text) <= 1024
    assert f'README.md, "Operating it", {suffix}.' in text
    assert f"`{suffix}`" in operating_it(), f"README's Operating it should have a runbook for {suffix}"


@pytest.mark.parametrize("alarm", sorted(EXPECTED_ALARMS))
def test_alarms_notify_the_topic_when_an_email_is_given_and_no_one_otherwise(alarm: str) -> None:
    with_email = evaluate(RESOURCES[alarm]["Properties"], parameter_values(AlarmEmail="ops@example.com"))
    without = evaluate(RESOURCES[alarm]["Properties"], parameter_values())

    assert with_email["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert with_email["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert "AlarmActions" not in without
    assert "OKActions" not in without
    assert "InsufficientDataActions" not in with_email


def test_alarm_email_is_one_address_or_nothing() -> None:
    spec = PARAMETERS["AlarmEmail"]
    pattern = spec["AllowedPattern"]

    assert spec["Default"] == ""
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, "oncall+mixpanel@example.com")
    assert not re.fullmatch(pattern, "oncall")
    assert not re.fullmatch(pattern, "a@example.com,b@example.com")
    assert not condition_holds("HasAlarmEmail", parameter_values())
    assert condition_holds("HasAlarmEmail", parameter_values(AlarmEmail="oncall@example.com"))


def test_alarm_topic_mails_the_address_and_is_encrypted_with_a_key_cloudwatch_may_use() -> None:
    topic = RESOURCES["AlarmTopic"]
    key = RESOURCES["AlarmTopicKey"]

    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Condition"] == key["Condition"] == "HasAlarmEmail"
    assert topic["Properties"]["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    # Not alias/aws/sns: the AWS managed key's policy cannot let CloudWatch use it, so alarms could not publish.
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    [cloudwatch] = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch["Effect"] == "Allow"
    assert sorted(as_list(cloudwatch["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# --- operations: the dashboard ------------------------------------------------------------------------------------

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
    if has_stream:
        expected_queues.add(placeholder("KinesisOnFailureQueue.QueueName"))
    assert queues == expected_queues
    assert functions == {placeholder(f) for f in FUNCTIONS if f == SQS_FUNCTION or has_stream}
    for function in functions:
        assert {("Duration", function), ("Errors", function), ("Throttles", function)} <= lambda_metrics
    assert (("IteratorAge", placeholder(KINESIS_FUNCTION)) in lambda_metrics) == has_stream
    ages = {dims["QueueName"] for _, name, dims in shown if name == "ApproximateAgeOfOldestMessage"}
    assert ages == {placeholder("SourceQueueName") if created_queue else "orders.fifo"}


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


# --- every combination of choices --------------------------------------------------------------------------------

CHOICES = {
    "SourceQueueArn": ["", QUEUE_ARN],
    "SourceStreamArn": ["", STREAM_ARN],
    "MixpanelCredentialsSecretArn": ["", "arn:aws:secretsmanager:us-east-1:123456789012:secret:mixpanel-AbC123"],
    "AlarmEmail": ["", "oncall@example.com"],
    "EnableTracing": ["false", "true"],
    "Architecture": ["arm64", "x86_64"],
}


@pytest.mark.parametrize(
    "choice", [dict(zip(CHOICES, values, strict=True)) for values in itertools.product(*CHOICES.values())]
)
def test_nothing_names_a_resource_the_same_choices_do_not_create(choice: dict[str, str]) -> None:
    params = parameter_values(**choice)

    def created(name: str) -> bool:
        condition = RESOURCES[name].get("Condition")
        return condition is None or condition_holds(condition, params)

    users: dict[str, Any] = {"Globals": GLOBAL_FUNCTION}
    users |= {name: resource for name, resource in RESOURCES.items() if created(name)}
    users |= {
        f"output {name}": output
        for name, output in TEMPLATE["Outputs"].items()
        if "Condition" not in output or condition_holds(output["Condition"], params)
    }
    for user, value in users.items():
        used = references_to(evaluate({k: v for k, v in value.items() if k != "Condition"}, params)) & set(RESOURCES)
        missing = sorted(name for name in used if not created(name))
        assert missing == [], f"{user} names {missing}, which these choices do not create"


# --- outputs and SAM CLI settings ---------------------------------------------------------------------------------


def test_outputs_name_what_an_operator_needs() -> None:
    outputs = TEMPLATE["Outputs"]

    assert outputs["SqsForwarderFunctionArn"]["Value"] == {"Fn::GetAtt": [SQS_FUNCTION, "Arn"]}
    assert outputs["KinesisForwarderFunctionArn"]["Value"] == {"Fn::GetAtt": [KINESIS_FUNCTION, "Arn"]}
    assert outputs["KinesisForwarderFunctionArn"]["Condition"] == "HasSourceStream"
    assert outputs["SourceQueueUrl"]["Value"] == {"Ref": "SourceQueue"}
    assert outputs["SourceQueueUrl"]["Condition"] == "CreateSourceQueue"
    assert outputs["SourceQueueArn"]["Value"] == {"Fn::GetAtt": ["SourceQueue", "Arn"]}
    assert outputs["SourceQueueArn"]["Condition"] == "CreateSourceQueue"
    assert outputs["SourceDeadLetterQueueUrl"]["Value"] == {"Ref": "SourceDeadLetterQueue"}
    assert outputs["SourceDeadLetterQueueUrl"]["Condition"] == "CreateSourceQueue"
    assert outputs["ParkedEventsQueueUrl"]["Value"] == {"Ref": "ParkedEventsQueue"}
    assert outputs["KinesisOnFailureQueueUrl"]["Value"] == {"Ref": "KinesisOnFailureQueue"}
    assert outputs["KinesisOnFailureQueueUrl"]["Condition"] == "HasSourceStream"
    assert outputs["MixpanelCredentialsSecretArn"]["Value"] == SECRET_ARN_EXPRESSION
    assert outputs["ForwarderLayerArn"]["Value"] == {
        "Fn::If": ["IsArm64", {"Ref": "ForwarderLayerArm64"}, {"Ref": "ForwarderLayerX8664"}]
    }


def test_outputs_of_conditional_resources_share_their_condition() -> None:
    # An output that names a resource the stack may not create fails the deployment, unless it has the
    # resource's condition or chooses it through Fn::If.
    for name, output in TEMPLATE["Outputs"].items():
        if "Fn::If" in output["Value"]:
            continue
        for resource in references_to(output["Value"]) & set(RESOURCES):
            condition = RESOURCES[resource].get("Condition")
            assert output.get("Condition") == condition, f"output {name} uses {resource} ({condition})"


def test_samconfig_lints_caches_and_asks_before_deploying() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]

    assert config["validate"]["parameters"]["lint"] is True
    assert config["build"]["parameters"] == {"cached": True, "parallel": True}
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert deploy["stack_name"]
