"""Least privilege: each function's own role may do only what the function needs, on what it uses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from localdev.cfn import as_list, strings_in
from tests.integration.deployed import PSEUDO_PARAMETERS
from tests.integration.template import (
    FAILED_BATCHES,
    FAILED_BATCHES_BUCKET_ARN,
    FUNCTIONS,
    KEY_ARN,
    KINESIS_FUNCTION,
    QUEUE_ARN,
    RESOURCES,
    RETRY_QUEUE_ARN,
    SECRET_ARN,
    SECRET_ARN_EXPRESSION,
    SOURCE_QUEUE_ARN_EXPRESSION,
    SQS_FUNCTION,
    STACK,
    STREAM_ARN,
    X_RAY_WRITE_ACTIONS,
    chosen,
    function_property,
    parameter_values,
    resources_of_type,
    role_grants,
    single_event,
)

PARKED_QUEUE_ARN = {"Fn::GetAtt": ["ParkedEventsQueue", "Arn"]}
# An object's ARN is its bucket's and its key: Lambda picks the keys of the failed batches (aws/lambda/<its mapping's
# id>/…, an id the roles cannot name without a cycle), so the objects of the stack's own bucket are its "/*".
OBJECTS_OF_THE_STACKS_BUCKET = "${KinesisFailedBatchesBucket.Arn}/*"
S3_OBJECT_ACTIONS = {"s3:GetObject", "s3:PutObject"}
IN_THIS_ACCOUNT = {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}
SOURCE_DLQ_ARN = {"Fn::GetAtt": ["SourceDeadLetterQueue", "Arn"]}
# An existing secret, queue and stream, and the customer managed key each is encrypted with.
EXISTING_INPUTS = {
    "MixpanelCredentialsSecretArn": SECRET_ARN,
    "SourceQueueArn": QUEUE_ARN,
    "SourceStreamArn": STREAM_ARN,
}
THEIR_KEYS = {
    "MixpanelCredentialsSecretKmsKeyArn": KEY_ARN,
    "SourceQueueKmsKeyArn": KEY_ARN,
    "SourceStreamKmsKeyArn": KEY_ARN,
}


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


@pytest.mark.parametrize("tracing", ["false", "true"])
@pytest.mark.parametrize(
    "given", [{"SourceStreamArn": STREAM_ARN}, {**EXISTING_INPUTS, **THEIR_KEYS}], ids=["stream", "existing-with-keys"]
)
def test_no_policy_statement_uses_a_wildcard_resource_but_x_ray_writes_when_tracing(
    tracing: str, given: dict[str, str]
) -> None:
    # X-Ray's two write actions support no resource-level permissions: with tracing on, "*" is their only
    # possible Resource. Nothing else may use a wildcard, and they only exist when tracing is on.
    params = parameter_values(EnableTracing=tracing, **given)
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
        if wildcards == [OBJECTS_OF_THE_STACKS_BUCKET] and set(actions) <= S3_OBJECT_ACTIONS:
            assert as_list(statement["Resource"]) == [FAILED_BATCHES], owner
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
        "sqs:GetQueueAttributes": [SOURCE_QUEUE_ARN_EXPRESSION, PARKED_QUEUE_ARN],
        "sqs:ChangeMessageVisibility": [SOURCE_QUEUE_ARN_EXPRESSION],
        "secretsmanager:GetSecretValue": [SECRET_ARN_EXPRESSION],
        # The created queue's dead-letter queue: crash-looping records are moved there (redelivery.py).
        "sqs:SendMessage": [SOURCE_DLQ_ARN, PARKED_QUEUE_ARN],
    }
    assert single_event(SQS_FUNCTION)["Properties"]["Queue"] == SOURCE_QUEUE_ARN_EXPRESSION
    assert function_property(SQS_FUNCTION, "LoggingConfig") == {"LogGroup": {"Ref": "SqsForwarderLogGroup"}}


def test_with_an_existing_queue_the_sqs_function_may_send_to_the_parked_events_queue_only() -> None:
    grants = role_grants(SQS_FUNCTION, parameter_values(SourceQueueArn=QUEUE_ARN))

    assert grants["sqs:SendMessage"] == [PARKED_QUEUE_ARN]  # a crash-looping record of its queue is parked
    assert grants["sqs:ChangeMessageVisibility"] == [SOURCE_QUEUE_ARN_EXPRESSION]  # on its own queue, as before


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
        "sqs:SendMessage": [PARKED_QUEUE_ARN],
        "sqs:GetQueueAttributes": [PARKED_QUEUE_ARN],
        "s3:PutObject": [FAILED_BATCHES],
        "s3:ListBucket": [FAILED_BATCHES_BUCKET_ARN],
    }
    assert single_event(KINESIS_FUNCTION)["Properties"]["Stream"] == stream
    assert function_property(KINESIS_FUNCTION, "LoggingConfig") == {"LogGroup": {"Ref": "KinesisForwarderLogGroup"}}


@pytest.mark.parametrize("role", ["SqsForwarderRole", "KinesisForwarderRole"])
def test_roles_can_be_assumed_by_lambda_only(role: str) -> None:
    statements = RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]

    assert statements == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def statements(role: str, params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A role's statements by Sid, as the parameters keep them."""
    found: dict[str, dict[str, Any]] = {}
    for policy in chosen(RESOURCES[role]["Properties"]["Policies"], params):
        for statement in chosen(policy["PolicyDocument"]["Statement"], params):
            found[statement["Sid"]] = statement
    return found


def test_the_kinesis_role_lets_lambda_write_failed_batches_only_into_the_stacks_bucket_in_this_account() -> None:
    found = statements("KinesisForwarderRole", parameter_values(SourceStreamArn=STREAM_ARN))

    # What Lambda needs for an S3 destination, s3:PutObject and s3:ListBucket, each on what it acts on, and only in
    # this account: https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
    assert found["WriteFailedBatches"] == {
        "Sid": "WriteFailedBatches",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": FAILED_BATCHES,
        "Condition": IN_THIS_ACCOUNT,
    }
    assert found["ListFailedBatches"] == {
        "Sid": "ListFailedBatches",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": FAILED_BATCHES_BUCKET_ARN,
        "Condition": IN_THIS_ACCOUNT,
    }


def test_with_a_stream_the_sqs_role_reads_the_retry_queue_and_the_failed_batches_and_nothing_more() -> None:
    params = parameter_values(SourceStreamArn=STREAM_ARN)
    found = statements("SqsForwarderRole", params)

    assert found["ReadKinesisRetryQueue"] == {
        "Sid": "ReadKinesisRetryQueue",
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
        "Resource": RETRY_QUEUE_ARN,
    }
    # The same actions on the retry queue as on the source queue: what its mapping, and the function, do with them.
    assert sorted(found["ReadKinesisRetryQueue"]["Action"]) == sorted(found["ReadSourceQueue"]["Action"])
    assert found["ReadFailedKinesisBatches"] == {
        "Sid": "ReadFailedKinesisBatches",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": FAILED_BATCHES,
    }
    without_stream = role_grants(SQS_FUNCTION)
    assert role_grants(SQS_FUNCTION, params) == {
        **without_stream,
        "sqs:ReceiveMessage": [SOURCE_QUEUE_ARN_EXPRESSION, RETRY_QUEUE_ARN],
        "sqs:DeleteMessage": [SOURCE_QUEUE_ARN_EXPRESSION, RETRY_QUEUE_ARN],
        "sqs:GetQueueAttributes": [*without_stream["sqs:GetQueueAttributes"], RETRY_QUEUE_ARN],
        "sqs:ChangeMessageVisibility": [SOURCE_QUEUE_ARN_EXPRESSION, RETRY_QUEUE_ARN],
        "s3:GetObject": [FAILED_BATCHES],
    }


# --- customer managed KMS keys of what the stack is given ------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedInput:
    key: str  # the parameter naming its key
    sid: str
    roles: tuple[str, ...]  # those of the functions that read it
    service: str  # the service that decrypts it with the reader's permission


ENCRYPTED_INPUTS = (
    # Secrets Manager decrypts a secret for GetSecretValue with the caller's kms:Decrypt:
    # https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
    EncryptedInput(
        "MixpanelCredentialsSecretKmsKeyArn",
        "DecryptMixpanelCredentials",
        ("SqsForwarderRole", "KinesisForwarderRole"),
        "secretsmanager",
    ),
    # Lambda polls an SSE-KMS queue with the execution role, which needs kms:Decrypt:
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-lambda-function-trigger.html
    EncryptedInput("SourceQueueKmsKeyArn", "DecryptSourceQueue", ("SqsForwarderRole",), "sqs"),
    # A stream's consumers need kms:Decrypt; Lambda consumes with the function's role:
    # https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html
    EncryptedInput("SourceStreamKmsKeyArn", "DecryptSourceStream", ("KinesisForwarderRole",), "kinesis"),
)
ROLES = ("SqsForwarderRole", "KinesisForwarderRole")


def kms_statements(role: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The role's statements that allow a kms: action, evaluated for the parameters in a stack of us-east-1."""
    deployed = STACK.deployed(PSEUDO_PARAMETERS)
    return [
        deployed.evaluate(statement, params)
        for statement in statements(role, params).values()
        if any(action.startswith("kms:") for action in as_list(statement["Action"]))
    ]


@pytest.mark.parametrize("encrypted", ENCRYPTED_INPUTS, ids=lambda encrypted: encrypted.key)
def test_a_customer_managed_key_is_granted_to_its_readers_for_decrypt_only_through_their_service(
    encrypted: EncryptedInput,
) -> None:
    # Every input given (a key needs its input: the template's rules), only this one's key.
    params = parameter_values(**EXISTING_INPUTS, **{encrypted.key: KEY_ARN})

    for role in ROLES:
        granted = kms_statements(role, params)
        if role in encrypted.roles:
            assert granted == [
                {
                    "Sid": encrypted.sid,
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": KEY_ARN,
                    "Condition": {"StringEquals": {"kms:ViaService": f"{encrypted.service}.us-east-1.amazonaws.com"}},
                }
            ], role
        else:
            assert granted == [], role


@pytest.mark.parametrize(
    "given",
    [{}, {"SourceStreamArn": STREAM_ARN}, EXISTING_INPUTS],
    ids=["defaults", "stream", "existing-secret-queue-and-stream"],
)
def test_without_a_key_no_role_may_use_kms(given: dict[str, str]) -> None:
    params = parameter_values(**given)

    for role in ROLES:
        if role == "KinesisForwarderRole" and "SourceStreamArn" not in given:
            continue  # no Kinesis function
        assert kms_statements(role, params) == [], role


def test_the_key_is_named_in_the_china_partition_as_its_service_is_reached_there() -> None:
    params = parameter_values(SourceQueueArn=QUEUE_ARN, SourceQueueKmsKeyArn=KEY_ARN)
    china = STACK.deployed({**PSEUDO_PARAMETERS, "AWS::Region": "cn-north-1", "AWS::URLSuffix": "amazonaws.com.cn"})

    statement = statements("SqsForwarderRole", params)["DecryptSourceQueue"]

    assert china.evaluate(statement["Condition"], params) == {
        "StringEquals": {"kms:ViaService": "sqs.cn-north-1.amazonaws.com.cn"}
    }
