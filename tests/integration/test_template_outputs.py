"""What every combination of choices references, the stack's outputs, and the SAM CLI's settings."""

from __future__ import annotations

import itertools
import tomllib
from typing import Any

import pytest

from localdev.cfn import references_to
from tests.integration.template import (
    GLOBAL_FUNCTION,
    KINESIS_FUNCTION,
    QUEUE_ARN,
    RESOURCES,
    ROOT,
    SECRET_ARN_EXPRESSION,
    SQS_FUNCTION,
    STREAM_ARN,
    TEMPLATE,
    condition_holds,
    evaluate,
    parameter_values,
)

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
    assert outputs["KinesisFailedBatchesBucketName"]["Value"] == {"Ref": "KinesisFailedBatchesBucket"}
    assert outputs["KinesisRetryQueueUrl"]["Value"] == {"Ref": "KinesisRetryQueue"}
    assert outputs["KinesisRetryDeadLetterQueueUrl"]["Value"] == {"Ref": "KinesisRetryDeadLetterQueue"}
    for name in ("KinesisFailedBatchesBucketName", "KinesisRetryQueueUrl", "KinesisRetryDeadLetterQueueUrl"):
        assert outputs[name]["Condition"] == "HasSourceStream"
    assert "KinesisOnFailureQueueUrl" not in outputs
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
