"""The Mixpanel credentials: given as a secret's ARN or stored in one the stack creates, never in a variable."""

from __future__ import annotations

import json
import re

import pytest

from localdev.cfn import references_to, strings_in
from tests.integration.template import (
    CONDITIONS,
    FUNCTIONS,
    GLOBAL_FUNCTION,
    PARAMETERS,
    RESOURCES,
    SECRET_ARN_EXPRESSION,
    TEMPLATE,
    environment,
    evaluate,
    parameter_values,
    role_grants,
)


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
        if references_to(resource)
        & {"MixpanelServiceAccountUsername", "MixpanelServiceAccountSecret", "MixpanelProjectToken", "TransformHashKey"}
    }

    assert users == {"MixpanelCredentialsSecret"}
    assert PARAMETERS["MixpanelProjectToken"]["NoEcho"] is True
    assert PARAMETERS["TransformHashKey"]["NoEcho"] is True
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


@pytest.mark.parametrize(
    ("token", "hash_key", "expected"),
    [
        ("", "", {"username": "x", "secret": "x"}),
        ("tok", "", {"username": "x", "secret": "x", "token": "x"}),
        ("", "a-hash-key-of-16-chars", {"username": "x", "secret": "x", "hash_key": "x"}),
        ("tok", "a-hash-key-of-16-chars", {"username": "x", "secret": "x", "token": "x", "hash_key": "x"}),
    ],
)
def test_the_created_secret_holds_the_project_token_and_the_hash_key_when_given(
    token: str, hash_key: str, expected: dict[str, str]
) -> None:
    params = parameter_values(MixpanelProjectToken=token, TransformHashKey=hash_key)
    chosen = evaluate(RESOURCES["MixpanelCredentialsSecret"]["Properties"]["SecretString"], params)
    separator, pieces = chosen["Fn::Join"]
    text = separator.join(piece["Fn::Sub"] if isinstance(piece, dict) else piece for piece in pieces)
    for name in ("MixpanelServiceAccountUsername", "MixpanelServiceAccountSecret", "MixpanelProjectToken"):
        text = text.replace("${" + name + "}", "x")
    assert json.loads(text.replace("${TransformHashKey}", "x")) == expected
