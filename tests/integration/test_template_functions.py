"""The two functions: their code, runtime, architecture and layer, the settings they get, and tracing."""

from __future__ import annotations

import re

import pytest

from mixpanel_forwarder.runtime import TRACING_ENABLED
from mixpanel_forwarder.setting_names import KNOWN_SETTINGS
from tests.integration.template import (
    FUNCTIONS,
    KINESIS_FUNCTION,
    PARAMETERS,
    RESOURCES,
    ROOT,
    SECRET_ARN_EXPRESSION,
    SQS_FUNCTION,
    X_RAY_WRITE_ACTIONS,
    condition_holds,
    environment,
    evaluate,
    function_property,
    parameter_values,
    resources_of_type,
    role_grants,
)


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
def test_every_variable_the_template_sets_is_a_known_setting(function: str) -> None:
    # The list the misspelt-setting warnings compare with: a variable the template adds must be on it.
    assert set(environment(function)) <= KNOWN_SETTINGS


# --- tracing ----------------------------------------------------------------------------------------------------------


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
