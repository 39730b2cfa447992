"""template.yaml's stack as its functions meet it, created in moto: the resources their roles name (queues, the
secret, log groups), each function's role with the policies the template gives it, and what the function runs with
(its environment, and the credentials of a session of its role, as Lambda gives them).

Everything comes from the template read through the evaluator (localdev/cfn.py) for the chosen parameters, with
each Ref and Fn::GetAtt resolved to the resource moto created (`Template.deployed`): a role's policy is the
template's, naming the real ARNs. A value the template refers to that is not created here fails the deployment,
naming it: teach `CREATORS` its type.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from localdev.cfn import Template, as_list, references_to
from tests.integration.template import deep_merge

STACK_NAME = "forwarder"
REGION = "us-east-1"
STACK_UUID = "1c2fa620-982a-11e3-aff7-50e2416294e0"
PSEUDO_PARAMETERS = {
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK_NAME}/{STACK_UUID}",
    "AWS::Region": REGION,
    "AWS::AccountId": "123456789012",  # moto's
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
SETUP_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # before IAM is enforced
INTRINSICS = ("Ref", "Condition")


class Clients:
    """boto3 clients of one identity against one moto server."""

    def __init__(self, url: str, **credentials: str) -> None:
        self._settings = {"endpoint_url": url, "region_name": REGION, **credentials}

    def __call__(self, service: str) -> Any:
        return boto3.client(service, **self._settings)


@dataclass(frozen=True)
class Function:
    name: str  # the logical id
    principal: str  # the ARN its calls are signed as: a session of its role
    source_arn: str  # the queue or stream its event source mapping reads
    environment: dict[str, str]  # Environment.Variables as deployed, and the session's credentials


@dataclass(frozen=True)
class Stack:
    known: dict[str, Any]  # each created resource's Ref and attributes, and the pseudo parameters
    functions: dict[str, Function]
    operator: Clients  # allowed everything: looks at what the functions did


def deploy(url: str, template: Template, params: Mapping[str, Any]) -> Stack:
    """Creates the stack in moto, which must not enforce IAM yet (roles are assumed here, as Lambda would)."""
    setup = Clients(url, **SETUP_CREDENTIALS)
    known: dict[str, Any] = dict(PSEUDO_PARAMETERS)
    for name in _creation_order(template, params):
        resource = template.resources[name]
        properties = _resolved(template.deployed(known), resource.get("Properties", {}), params, name)
        known.update(CREATORS[resource["Type"]](setup, name, properties))
    deployed = template.deployed(known)
    functions = {
        name: _function(setup, url, deployed, params, name)
        for name in template.resources_of_type("AWS::Serverless::Function")
        if _exists(template, name, params)
    }
    return Stack(known, functions, _operator(setup, url))


def _function(setup: Clients, url: str, deployed: Template, params: Mapping[str, Any], name: str) -> Function:
    own = deployed.resources[name]["Properties"]
    inherited = deployed.document.get("Globals", {}).get("Function", {})
    variables = deep_merge(inherited.get("Environment", {}), own.get("Environment", {})).get("Variables", {})
    environment = {key: as_text(value) for key, value in _resolved(deployed, variables, params, name).items()}
    (event,) = _resolved(deployed, own["Events"], params, name).values()
    source_arn = event["Properties"]["Queue" if event["Type"] == "SQS" else "Stream"]
    role_arn = _resolved(deployed, own["Role"], params, name)
    # Lambda names the session after the function and hands its credentials to the code in these variables.
    session = setup("sts").assume_role(RoleArn=role_arn, RoleSessionName=name)
    credentials = session["Credentials"]
    environment.update(
        AWS_ACCESS_KEY_ID=credentials["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
        AWS_SESSION_TOKEN=credentials["SessionToken"],
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=url,
    )
    return Function(name, session["AssumedRoleUser"]["Arn"], source_arn, environment)


def _operator(setup: Clients, url: str) -> Clients:
    iam = setup("iam")
    iam.create_user(UserName="operator")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="operator", PolicyName="everything", PolicyDocument=json.dumps(everything))
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    return Clients(url, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


# --- resources -------------------------------------------------------------------------------------------------
# Each creator makes one resource from its evaluated properties and returns what the stack then knows of it: its
# Ref value under its logical id, its attributes as "Name.Attribute".


def _queue(clients: Clients, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    sqs = clients("sqs")
    attributes = {key: as_text(value) for key, value in properties.items() if key not in ("QueueName", "Tags")}
    fifo = attributes.get("FifoQueue") == "true"
    queue_name = properties.get("QueueName", f"{STACK_NAME}-{name}{'.fifo' if fifo else ''}")
    url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {name: url, f"{name}.Arn": arn, f"{name}.QueueName": queue_name, f"{name}.QueueUrl": url}


def _queue_policy(clients: Clients, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    sqs = clients("sqs")
    for url in properties["Queues"]:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])})
    return {name: f"{STACK_NAME}-{name}"}


# CloudFormation's bucket properties as S3's calls take them; a property not here fails the deployment, naming it.
_BUCKET_CALLS: dict[str, Callable[[Any], tuple[str, dict[str, Any]]]] = {
    "BucketEncryption": lambda value: (
        "put_bucket_encryption",
        {
            "ServerSideEncryptionConfiguration": {
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                    for rule in value["ServerSideEncryptionConfiguration"]
                ]
            }
        },
    ),
    "PublicAccessBlockConfiguration": lambda value: (
        "put_public_access_block",
        {"PublicAccessBlockConfiguration": value},
    ),
    "OwnershipControls": lambda value: ("put_bucket_ownership_controls", {"OwnershipControls": value}),
    "LifecycleConfiguration": lambda value: (
        "put_bucket_lifecycle_configuration",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "ID": rule["Id"],
                        "Status": rule["Status"],
                        "Filter": {},
                        "Expiration": {"Days": rule["ExpirationInDays"]},
                    }
                    for rule in value["Rules"]
                ]
            }
        },
    ),
    # S3 sends the queue its test event here, as it does when CloudFormation sets the notification.
    "NotificationConfiguration": lambda value: (
        "put_bucket_notification_configuration",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {"QueueArn": each["Queue"], "Events": [each["Event"]]} for each in value["QueueConfigurations"]
                ]
            }
        },
    ),
}


def _bucket(clients: Clients, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    s3 = clients("s3")
    bucket = properties["BucketName"]
    s3.create_bucket(Bucket=bucket)  # us-east-1: no LocationConstraint
    for key, value in properties.items():
        if key == "BucketName":
            continue
        assert key in _BUCKET_CALLS, f"{name}: tests/integration/deployed.py does not make a bucket's {key}"
        call, arguments = _BUCKET_CALLS[key](value)
        getattr(s3, call)(Bucket=bucket, **arguments)
    return {name: bucket, f"{name}.Arn": f"arn:aws:s3:::{bucket}"}


def _bucket_policy(clients: Clients, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Not put: the template's bucket policy only denies requests without TLS (`aws:SecureTransport`), and moto takes
    a statement whose condition it cannot read (it reads only sts:ExternalId) as a denial, Deny or Allow alike, so it
    would refuse every object request (and those here are plain HTTP on loopback). test_template_sources.py checks
    the policy as written."""
    statements = properties["PolicyDocument"]["Statement"]
    assert [statement["Effect"] for statement in statements] == ["Deny"], f"{name}: more than TLS-only to play here"
    return {name: properties["Bucket"]}


def _secret(clients: Clients, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    created = clients("secretsmanager").create_secret(
        Name=f"{STACK_NAME}-{name}",
        SecretString=properties["SecretString"],
        Description=properties.get("Description", ""),
    )
    return {name: created["ARN"], f"{name}.Id": created["ARN"]}


def _log_group(clients: Clients, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    logs = clients("logs")
    group = properties["LogGroupName"]
    logs.create_log_group(logGroupName=group)
    (created,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return {name: group, f"{name}.Arn": created["arn"]}


def _role(clients: Clients, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    iam = clients("iam")
    assert "ManagedPolicyArns" not in properties, f"{name}: managed policies are not created here"
    role_name = f"{STACK_NAME}-{name}"
    trust = json.dumps(properties["AssumeRolePolicyDocument"])
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]
    for policy in properties.get("Policies", []):
        document = json.dumps(policy["PolicyDocument"])
        iam.put_role_policy(RoleName=role_name, PolicyName=policy["PolicyName"], PolicyDocument=document)
    return {name: role_name, f"{name}.Arn": role["Arn"], f"{name}.RoleId": role["RoleId"]}


Creator = Callable[[Clients, str, dict[str, Any]], dict[str, Any]]
CREATORS: dict[str, Creator] = {
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::IAM::Role": _role,
}


def _creation_order(template: Template, params: Mapping[str, Any]) -> list[str]:
    """The resources of a type in CREATORS that the parameters keep, each after those it refers to or depends on."""
    pending = {
        name: references_to(resource.get("Properties", {})) | set(as_list(resource.get("DependsOn", [])))
        for name, resource in template.resources.items()
        if resource["Type"] in CREATORS and _exists(template, name, params)
    }
    order: list[str] = []
    while pending:
        ready = sorted(name for name, needs in pending.items() if not (needs & pending.keys()))
        assert ready, f"resources refer to each other in a circle: {sorted(pending)}"
        order.extend(ready)
        for name in ready:
            del pending[name]
    return order


def _exists(template: Template, name: str, params: Mapping[str, Any]) -> bool:
    condition = template.resources[name].get("Condition")
    return condition is None or template.condition_holds(condition, params)


def _resolved(deployed: Template, value: Any, params: Mapping[str, Any], owner: str) -> Any:
    evaluated = deployed.evaluate(value, params)
    unresolved = _intrinsics_in(evaluated)
    assert not unresolved, f"{owner} refers to {unresolved}, which tests/integration/deployed.py does not create"
    return evaluated


def _intrinsics_in(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [found for item in value for found in _intrinsics_in(item)]
    if not isinstance(value, dict):
        return []
    if len(value) == 1 and (next(iter(value)) in INTRINSICS or next(iter(value)).startswith("Fn::")):
        return [value]
    return [found for item in value.values() for found in _intrinsics_in(item)]


def as_text(value: Any) -> str:
    """A value as an SQS attribute or an environment variable holds it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
