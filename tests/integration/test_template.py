"""The SAM template's own settings: what keeps a queue or a stream safe, least privilege, what users choose.

Neither cfn-lint nor `sam validate` checks the values that matter here (a `ReportBatchItemFailure` typo, an
infinite retry, a short visibility timeout, a wildcard resource all pass them), so these tests read
template.yaml itself. Values that come from parameters are checked at the parameters' defaults and, where a
rule must hold for every choice, at every allowed value.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def evaluate(value: Any, params: Mapping[str, Any]) -> Any:
    """Resolves Ref to parameters, Fn::If, Fn::FindInMap and the condition functions; leaves the rest as is."""
    if isinstance(value, list):
        return [evaluate(item, params) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and argument in PARAMETERS:
            return params[argument]
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
    return {key: evaluate(item, params) for key, item in value.items()}


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


def policy_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement in the template: roles' inline policies, standalone policies, SAM Policies."""
    for name, role in resources_of_type("AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                yield name, statement
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, policy in resources_of_type(kind).items():
            for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                yield name, statement
    for name in FUNCTIONS:
        for policy in as_list(RESOURCES[name]["Properties"].get("Policies", [])):
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in as_list(policy["Statement"]):
                    yield name, statement


def role_grants(function: str) -> dict[str, list[Any]]:
    """The function's execution role as {action: [resources]}."""
    role_ref = RESOURCES[function]["Properties"]["Role"]
    assert role_ref.get("Fn::GetAtt", [None])[1:] == ["Arn"], f"{function}'s Role should be a role of this stack"
    role = RESOURCES[role_ref["Fn::GetAtt"][0]]
    grants: dict[str, list[Any]] = {}
    for policy in role["Properties"]["Policies"]:
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
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


def test_no_policy_statement_uses_a_wildcard_resource() -> None:
    statements = list(policy_statements())

    assert statements, "the template should declare its functions' permissions"
    for owner, statement in statements:
        assert "NotResource" not in statement, owner
        assert "NotAction" not in statement, owner
        for resource in as_list(statement["Resource"]):
            for text in strings_in(resource):
                assert "*" not in text, f"{owner} {statement.get('Sid')}: wildcard resource {text!r}"
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{owner}: wildcard action {action!r}"


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
