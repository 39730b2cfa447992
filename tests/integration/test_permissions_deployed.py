"""Permissions as deployed: every AWS call the functions make is allowed by the role template.yaml gives them.

moto's server with IAM enforced (tests/moto_iam.py) holds the stack as the template creates it (deployed.py): each
function's role with the template's policies, naming the real ARNs. The real handlers run with the credentials of
a session of their role, against the Mixpanel sink, along every path that calls AWS: the secret read at a cold
start, parking, parking a document too large for one message (in parts), and the secret read again after a 401; for
the SQS function, a reported record hidden for its delay and a crash-looping record moved on or parked; with a stream,
the SQS function reading a failed Kinesis batch (the object in the stack's bucket that S3's notification on the retry
queue names), and hiding that notification when it is reported. Every authorization decision moto made during the
invocation is read back, so a denial the code recovers from (a fallback) fails the test too. Each path runs for each
function, at the parameters' defaults and in the variants that change the roles (a stream, an existing secret and
queue, tracing, and those encrypted with customer managed KMS keys, which moto cannot make anyone decrypt: see there).

A new AWS call in the functions' code is one more entry of `CODE_CALLS` and a case that makes it (the inventory
test finds the call); a new resource type a role names, one more creator in deployed.py. The static least-privilege
checks are test_template_permissions.py.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from localdev.cfn import Template, as_list
from localdev.eventgen import (
    failed_batch_key,
    failed_batch_object,
    kinesis_event,
    kinesis_record,
    kpl_aggregate,
    sample_event,
)
from localdev.sink import MixpanelSink
from tests.integration.as_deployed import (
    Decision,
    Deployments,
    denied,
    iam_deployments,
    run_as_deployed,
    take_parked,
)
from tests.integration.aws_calls import aws_calls_in_library
from tests.integration.deployed import REGION, Clients, Function, Stack
from tests.integration.template import KINESIS_FUNCTION, SQS_FUNCTION, STACK, environment, parameter_values

# The sink's account, which the stack's secret holds (made from these parameters, or given as an existing secret).
ACCOUNT = {"username": "sink-user", "secret": "sink-secret", "token": "sink-token"}
CREDENTIALS_PARAMETERS = {
    "MixpanelProjectId": "4242",
    "MixpanelServiceAccountUsername": ACCOUNT["username"],
    "MixpanelServiceAccountSecret": ACCOUNT["secret"],
    "MixpanelProjectToken": ACCOUNT["token"],
}
GET_SECRET = "secretsmanager:GetSecretValue"
READ_QUEUE = "sqs:GetQueueAttributes"  # the parked queue's size limit, a source queue's retention
PARK = "sqs:SendMessage"  # SendMessageBatch is authorized by it (parking, and moving a crash loop)
HIDE = "sqs:ChangeMessageVisibility"  # ChangeMessageVisibilityBatch too: a reported record hidden for its delay
READ_FAILED_BATCH = "s3:GetObject"
# What a call is made on: the function's secret, the parked-events queue, its source queue, that queue's own DLQ; with
# a stream, the retry queue the SQS function also reads and the failed batch (the object) a notification there names.
SECRET, PARKED, SOURCE, SOURCE_DLQ, RETRY, FAILED_BATCH = (
    "secret",
    "parked",
    "source",
    "source-dlq",
    "retry",
    "failed-batch",
)
Call = tuple[str, str]  # (IAM action, what it is on)

# Each AWS API the library calls when the functions run (not in the operator's tools), as the IAM action the Cases
# below make it under.
CODE_CALLS = {
    "secretsmanager.get_secret_value": GET_SECRET,  # through Powertools' SecretsProvider (credentials.py)
    "sqs.get_queue_attributes": READ_QUEUE,
    "sqs.send_message_batch": PARK,
    "sqs.change_message_visibility_batch": HIDE,
    "s3.get_object": READ_FAILED_BATCH,  # objects.py: a Kinesis batch Lambda gave up on
}
# Named in the code, and never called by the deployed functions: why.
NOT_CALLED_AS_DEPLOYED = {"s3.put_object": "DEAD_LETTER_BUCKET, which the template does not set"}
# Code the operator runs with their own credentials (docs/RUNBOOK.md, "Parked events"), not the functions.
OPERATOR_CODE = {"replay.py": "every call", "replay_queue.py": "every call", "parked.py": "s3.get_object"}


# --- variants: parameters that change what a role allows ---------------------------------------------------------


def _stream(setup: Clients) -> str:
    kinesis = setup("kinesis")
    kinesis.create_stream(StreamName="product-events", ShardCount=1)
    return str(kinesis.describe_stream_summary(StreamName="product-events")["StreamDescriptionSummary"]["StreamARN"])


def _existing(setup: Clients) -> dict[str, str]:
    """A secret and a source queue made outside the stack, which it is given by ARN."""
    secret = setup("secretsmanager").create_secret(Name="mixpanel/forwarder", SecretString=json.dumps(ACCOUNT))
    sqs = setup("sqs")
    queue = sqs.create_queue(QueueName="product-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {
        "MixpanelCredentialsSecretArn": secret["ARN"],
        "SourceQueueArn": queue_arn,
        "SourceStreamArn": _stream(setup),
    }


def _encrypted(setup: Clients) -> dict[str, str]:
    """As _existing, each encrypted with a customer managed key of its own, which the stack is given too."""
    kms = setup("kms")
    secret_key, queue_key, stream_key = (
        kms.create_key(Description=f"the {name}'s")["KeyMetadata"]["Arn"] for name in ("secret", "queue", "stream")
    )
    secret = setup("secretsmanager").create_secret(
        Name="mixpanel/forwarder", SecretString=json.dumps(ACCOUNT), KmsKeyId=secret_key
    )
    sqs = setup("sqs")
    queue = sqs.create_queue(QueueName="product-events", Attributes={"KmsMasterKeyId": queue_key})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stream_arn = _stream(setup)
    setup("kinesis").start_stream_encryption(StreamARN=stream_arn, EncryptionType="KMS", KeyId=stream_key)
    return {
        "MixpanelCredentialsSecretArn": secret["ARN"],
        "MixpanelCredentialsSecretKmsKeyArn": secret_key,
        "SourceQueueArn": queue_arn,
        "SourceQueueKmsKeyArn": queue_key,
        "SourceStreamArn": stream_arn,
        "SourceStreamKmsKeyArn": stream_key,
    }


@dataclass(frozen=True)
class Variant:
    name: str
    functions: tuple[str, ...]  # those the stack has with these parameters
    parameters: Callable[[Clients], dict[str, str]]  # given what exists before the stack
    template: Template = STACK

    def __str__(self) -> str:
        return self.name


VARIANTS = (
    Variant("defaults", (SQS_FUNCTION,), lambda setup: {}),
    Variant("stream", (SQS_FUNCTION, KINESIS_FUNCTION), lambda setup: {"SourceStreamArn": _stream(setup)}),
    Variant("existing-secret-and-queue", (SQS_FUNCTION, KINESIS_FUNCTION), _existing),
    Variant(
        "tracing",
        (SQS_FUNCTION, KINESIS_FUNCTION),
        lambda setup: {"EnableTracing": "true", "SourceStreamArn": _stream(setup)},
    ),
    Variant("customer-managed-keys", (SQS_FUNCTION, KINESIS_FUNCTION), _encrypted),
)
ENCRYPTED = VARIANTS[-1]


# --- call paths ----------------------------------------------------------------------------------------------------


def valid(i: int) -> dict[str, Any]:
    return sample_event(i)


def invalid(i: int) -> dict[str, Any]:
    """Refused for good (no event name): parked."""
    event = sample_event(i)
    del event["event"]
    return event


def oversized(i: int) -> dict[str, Any]:
    """Larger than Mixpanel takes and than one message of the parked-events queue (1 MiB): parked in parts."""
    event = sample_event(i)
    event["properties"]["blob"] = "z" * (1024 * 1024 + 1)
    return event


@dataclass(frozen=True)
class Outcome:
    imported: int
    parked: int
    parked_messages: int  # more than `parked` when a document went in parts
    reported: int = 0  # records reported for retry


@dataclass(frozen=True)
class Case:
    name: str
    events: tuple[Callable[[int], dict[str, Any]], ...]  # one record each
    actions: Counter[Call]  # the AWS calls the invocation makes, by IAM action and what it is on
    outcome: Outcome
    mixpanel_answers: tuple[int, ...] = ()  # the sink's scripted answers, before its own
    sqs_actions: Counter[Call] = field(default_factory=Counter)  # the SQS function's calls beside, on its own queue
    attributes: dict[str, str] = field(default_factory=dict)  # over each SQS record's own

    def __str__(self) -> str:
        return self.name

    def calls(self, function: str) -> Counter[Call]:
        return self.actions + self.sqs_actions if function == SQS_FUNCTION else self.actions


COLD_START, PARKING, IN_PARTS, AFTER_401 = CASES = (
    Case("secret-read-at-cold-start", (valid, valid, valid), Counter({(GET_SECRET, SECRET): 1}), Outcome(3, 0, 0)),
    Case(
        "parking",
        (valid, invalid, valid, invalid),
        Counter({(GET_SECRET, SECRET): 1, (READ_QUEUE, PARKED): 1, (PARK, PARKED): 1}),
        Outcome(2, 2, 2),
    ),
    Case(
        "parking-in-parts",
        (valid, oversized),
        Counter({(GET_SECRET, SECRET): 1, (READ_QUEUE, PARKED): 1, (PARK, PARKED): 2}),  # a part fills most of a batch
        Outcome(1, 1, 2),
    ),
    Case(
        "secret-read-again-after-401",
        (valid, valid),
        Counter({(GET_SECRET, SECRET): 2}),
        Outcome(0, 0, 0, reported=2),  # the secret read again is the one refused: Lambda delivers them again
        mixpanel_answers=(401,),
        # The reported records are hidden for their delay, once their queue's retention is read (to park any it would
        # delete first).
        sqs_actions=Counter({(READ_QUEUE, SOURCE): 1, (HIDE, SOURCE): 1}),
    ),
)
# Received 9 times within a second of the first: a crash loop, never processed. The created queue's records are moved
# to its dead-letter queue, once the queue's RedrivePolicy says that is its own; an existing queue's are parked whole.
CRASH_LOOP = {"ApproximateReceiveCount": "9"}
MOVED, CRASH_PARKED = SQS_CASES = (
    Case(
        "crash-loop-moved",
        (valid, valid),
        Counter({(GET_SECRET, SECRET): 1, (READ_QUEUE, SOURCE): 1, (PARK, SOURCE_DLQ): 1}),
        Outcome(0, 0, 0),
        attributes=CRASH_LOOP,
    ),
    Case(
        "crash-loop-parked",
        (valid, valid),
        Counter({(GET_SECRET, SECRET): 1, (READ_QUEUE, PARKED): 1, (PARK, PARKED): 1}),
        Outcome(0, 2, 2),
        attributes=CRASH_LOOP,
    ),
)


def resource_of(on: str, stack: Stack, function: Function) -> str:
    if on == SECRET:
        return function.environment["MIXPANEL_CREDENTIALS_SECRET_ARN"]
    if on == SOURCE:
        return function.source_arn
    if on == SOURCE_DLQ:
        return str(stack.known["SourceDeadLetterQueue.Arn"])
    if on == RETRY:
        return str(stack.known["KinesisRetryQueue.Arn"])
    if on == FAILED_BATCH:
        return f"arn:aws:s3:::{stack.known['KinesisFailedBatchesBucket']}/{failed_batch_key()}"
    assert on == PARKED, f"say which resource {on} is"
    return str(stack.known["ParkedEventsQueue.Arn"])


# --- running a case in the stack -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployments]:
    with iam_deployments(tmp_path_factory.mktemp("iam")) as running:
        yield running


@pytest.fixture
def sink() -> Iterator[MixpanelSink]:
    with MixpanelSink(username=ACCOUNT["username"], secret=ACCOUNT["secret"], token=ACCOUNT["token"]) as running:
        yield running


def stack_of(variant: Variant, deployments: Deployments) -> Stack:
    stack = deployments.of(
        variant, variant.template, lambda setup: parameter_values(**CREDENTIALS_PARAMETERS, **variant.parameters(setup))
    )
    assert sorted(stack.functions) == sorted(variant.functions)
    return stack


@dataclass(frozen=True)
class Run:
    decisions: list[Decision]  # moto's, during the invocation
    outcome: Outcome | None
    error: str | None  # what the handler raised: Lambda retries the whole batch


def run(
    case: Case, stack: Stack, function: Function, deployments: Deployments, sink: MixpanelSink, monkeypatch: Any
) -> Run:
    take_parked(stack)
    for status in case.mixpanel_answers:
        sink.fail_next(status)
    bodies = [json.dumps(make(i)) for i, make in enumerate(case.events)]
    with deployments.decisions() as made:
        try:
            response = run_as_deployed(
                function, bodies, {"MIXPANEL_API_URL": sink.url}, monkeypatch, attributes=case.attributes
            )
        except Exception as exc:  # a denied secret read, say: the denial is what the test reports first
            return Run(made, None, repr(exc))
    parked_messages, parked = take_parked(stack)
    outcome = Outcome(len(sink.events), len(parked), parked_messages, len(response["batchItemFailures"]))
    return Run(made, outcome, None)


COMBINATIONS = [
    pytest.param(variant, function, case, id=f"{variant}-{function}-{case}")
    for variant in VARIANTS
    for function in variant.functions
    for case in CASES
]


@pytest.mark.parametrize(("variant", "function_name", "case"), COMBINATIONS)
def test_every_aws_call_of_the_function_is_allowed_by_its_role(
    variant: Variant,
    function_name: str,
    case: Case,
    deployments: Deployments,
    sink: MixpanelSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    function = (stack := stack_of(variant, deployments)).functions[function_name]

    result = run(case, stack, function, deployments, sink, monkeypatch)

    assert denied(result.decisions, function) == []
    assert (result.error, result.outcome) == (None, case.outcome)
    assert_calls(result, case.calls(function_name), stack, function)


def assert_calls(result: Run, calls: Counter[Call], stack: Stack, function: Function) -> None:
    """The invocation made these calls, as many of each action as said, each on what it is said to be on."""
    by_action: Counter[str] = Counter()
    for (action, _), count in calls.items():
        by_action[action] += count
    assert Counter(decision["action"] for decision in result.decisions) == by_action
    assert {(decision["action"], decision["resource"]) for decision in result.decisions} == {
        (action, resource_of(on, stack, function)) for action, on in calls
    }


@pytest.mark.parametrize(
    ("variant", "case"),
    [
        pytest.param(VARIANTS[0], MOVED, id="created-queue-moves-to-its-dlq"),
        pytest.param(VARIANTS[2], CRASH_PARKED, id="existing-queue-parks"),
    ],
)
def test_a_crash_looping_record_is_moved_on_as_the_role_allows(
    variant: Variant, case: Case, deployments: Deployments, sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = (stack := stack_of(variant, deployments)).functions[SQS_FUNCTION]

    result = run(case, stack, function, deployments, sink, monkeypatch)

    assert denied(result.decisions, function) == []
    assert (result.error, result.outcome) == (None, case.outcome)
    assert_calls(result, case.calls(SQS_FUNCTION), stack, function)
    if case is MOVED:
        sqs = stack.operator("sqs")
        answer = sqs.receive_message(QueueUrl=stack.known["SourceDeadLetterQueue"], MaxNumberOfMessages=10)
        assert len(answer.get("Messages", [])) == 2  # each in its envelope


def without(action: str, sid: str, role: str) -> Template:
    """template.yaml with one action taken out of a role's statement (the statement gone with its last action)."""
    document = copy.deepcopy(STACK.document)
    for policy in document["Resources"][role]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        for index, item in enumerate(statements):
            # A statement only some stacks have is the first choice of an Fn::If.
            statement = item["Fn::If"][1] if isinstance(item, dict) and "Fn::If" in item else item
            if isinstance(statement, dict) and statement.get("Sid") == sid:
                actions = [each for each in as_list(statement["Action"]) if each != action]
                assert len(actions) < len(as_list(statement["Action"])), f"{sid} does not allow {action}"
                if actions:
                    statement["Action"] = actions
                else:
                    del statements[index]
                return Template(document)
    raise AssertionError(f"{role} has no statement {sid}")


@pytest.mark.parametrize(
    ("removed", "outcome"),
    [
        # As before the role granted it: the code falls back to 256 KiB and parks all the same; the denial shows.
        pytest.param(READ_QUEUE, PARKING.outcome, id="denial-the-code-recovers-from"),
        pytest.param(PARK, Outcome(2, 0, 0, reported=2), id="denial-that-fails-parking"),
    ],
)
def test_a_call_the_role_does_not_allow_is_caught(
    removed: str, outcome: Outcome, deployments: Deployments, sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    variant = Variant(
        f"no-{removed}", (SQS_FUNCTION,), lambda setup: {}, without(removed, "ParkEvents", "SqsForwarderRole")
    )
    function = (stack := stack_of(variant, deployments)).functions[SQS_FUNCTION]

    result = run(PARKING, stack, function, deployments, sink, monkeypatch)

    parked_queue = stack.known["ParkedEventsQueue.Arn"]
    assert denied(result.decisions, function) == [
        f"{removed} on {parked_queue} as {function.principal}: AccessDeniedError"
    ]
    assert (result.error, result.outcome) == (None, outcome)


def test_a_role_that_may_not_hide_a_message_is_caught_and_its_records_still_reported(
    deployments: Deployments, sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An existing queue's mapping needs ReceiveMessage, DeleteMessage and GetQueueAttributes, not this.
    variant = Variant(
        "no-hide", (SQS_FUNCTION,), lambda setup: {}, without(HIDE, "ReadSourceQueue", "SqsForwarderRole")
    )
    function = (stack := stack_of(variant, deployments)).functions[SQS_FUNCTION]

    result = run(AFTER_401, stack, function, deployments, sink, monkeypatch)

    assert denied(result.decisions, function) == [
        f"{HIDE} on {function.source_arn} as {function.principal}: AccessDeniedError"
    ]
    assert (result.error, result.outcome) == (None, AFTER_401.outcome)  # they come back after the queue's own timeout


def test_every_aws_call_in_the_functions_code_has_a_case() -> None:
    named = aws_calls_in_library(operator_code=OPERATOR_CODE)

    assert named == CODE_CALLS.keys() | NOT_CALLED_AS_DEPLOYED.keys()
    cases = (*CASES, *SQS_CASES, *FAILED_BATCH_CASES)
    made_by_cases = {action for case in cases for action, _ in case.calls(SQS_FUNCTION)}
    assert set(CODE_CALLS.values()) <= made_by_cases
    for function in (SQS_FUNCTION, KINESIS_FUNCTION):
        assert "DEAD_LETTER_BUCKET" not in environment(function)  # else S3 parking needs its Case (and s3:PutObject)


# --- customer managed KMS keys (an existing secret, queue or stream encrypted with one) ---------------------------
# moto neither encrypts with KMS nor asks it when a secret, a queue or a stream is read: a role without kms:Decrypt
# reads them all the same, so no run here can show a decryption denied. What can be shown: in the customer-managed-keys
# variant every call the functions make is allowed and none is a kms: call (the cases above), as the services decrypt
# on the caller's behalf (Lambda's poller among the callers); and here, what each role holds as deployed.


def kms_grants(stack: Stack, role: str) -> dict[str, dict[str, Any]]:
    """The role's statements that allow a kms: action, by Sid, as moto holds the role."""
    iam = stack.operator("iam")
    document = iam.get_role_policy(RoleName=stack.known[role], PolicyName="forwarder")["PolicyDocument"]
    return {
        statement["Sid"]: statement
        for statement in document["Statement"]
        if any(action.startswith("kms:") for action in as_list(statement["Action"]))
    }


def decrypt(sid: str, key: str, service: str) -> dict[str, Any]:
    via = f"{service}.{REGION}.amazonaws.com"
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key,
        "Condition": {"StringEquals": {"kms:ViaService": via}},
    }


def test_each_role_may_decrypt_with_the_key_of_what_it_reads_only_through_the_service_reading_it(
    deployments: Deployments,
) -> None:
    stack = stack_of(ENCRYPTED, deployments)
    sqs_function, kinesis_function = stack.functions[SQS_FUNCTION], stack.functions[KINESIS_FUNCTION]
    # The keys as AWS reports them for what they encrypt.
    operator = stack.operator
    secret_key = operator("secretsmanager").describe_secret(
        SecretId=sqs_function.environment["MIXPANEL_CREDENTIALS_SECRET_ARN"]
    )["KmsKeyId"]
    queue_url = operator("sqs").get_queue_url(QueueName=sqs_function.source_arn.rsplit(":", 1)[1])["QueueUrl"]
    queue_key = operator("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["KmsMasterKeyId"])[
        "Attributes"
    ]["KmsMasterKeyId"]
    stream = operator("kinesis").describe_stream_summary(StreamARN=kinesis_function.source_arn)
    stream_key = stream["StreamDescriptionSummary"]["KeyId"]
    secret = decrypt("DecryptMixpanelCredentials", secret_key, "secretsmanager")

    assert len({secret_key, queue_key, stream_key}) == 3
    assert kms_grants(stack, "SqsForwarderRole") == {
        "DecryptSourceQueue": decrypt("DecryptSourceQueue", queue_key, "sqs"),
        "DecryptMixpanelCredentials": secret,
    }
    assert kms_grants(stack, "KinesisForwarderRole") == {
        "DecryptSourceStream": decrypt("DecryptSourceStream", stream_key, "kinesis"),
        "DecryptMixpanelCredentials": secret,
    }


def test_without_a_key_no_role_may_use_kms(deployments: Deployments) -> None:
    stack = stack_of(next(variant for variant in VARIANTS if variant.name == "existing-secret-and-queue"), deployments)

    assert kms_grants(stack, "SqsForwarderRole") == {}
    assert kms_grants(stack, "KinesisForwarderRole") == {}


# --- the SQS function reads a failed Kinesis batch (stacks with a stream) ----------------------------------------

WITH_A_STREAM = [variant for variant in VARIANTS if KINESIS_FUNCTION in variant.functions]
# The records of these cases are S3's notifications on the retry queue, each naming a failed batch of 4 events.
FAILED_BATCH_READ, FAILED_BATCH_REPORTED, FAILED_BATCH_CRASH_LOOP = FAILED_BATCH_CASES = (
    Case(
        "failed-batch-read",
        (),
        Counter({(GET_SECRET, SECRET): 1, (READ_FAILED_BATCH, FAILED_BATCH): 1}),
        Outcome(4, 0, 0),
    ),
    Case(
        "failed-batch-reported",
        (),
        Counter({(GET_SECRET, SECRET): 2, (READ_FAILED_BATCH, FAILED_BATCH): 1}),
        Outcome(0, 0, 0, reported=1),
        mixpanel_answers=(401,),
        # Reported, the notification is hidden for its delay on the retry queue, as a source queue's record is.
        sqs_actions=Counter({(READ_QUEUE, RETRY): 1, (HIDE, RETRY): 1}),
    ),
    # The retry queue's dead-letter queue is not the source queue's (read from its RedrivePolicy): parked whole, never
    # sent to the source DLQ, and its batch not read.
    Case(
        "failed-batch-crash-loop",
        (),
        Counter({(GET_SECRET, SECRET): 1, (READ_QUEUE, RETRY): 1, (READ_QUEUE, PARKED): 1, (PARK, PARKED): 1}),
        Outcome(0, 1, 1),
        attributes=CRASH_LOOP,
    ),
)


def failed_batch(stack: Stack) -> int:
    """A Kinesis batch Lambda gave up on, written to the stack's bucket as Lambda writes it (under
    `failed_batch_key()`), and its events. The operator writes it: Lambda writes with the Kinesis role, under an
    `s3:ResourceAccount` condition moto cannot evaluate (it knows no condition key but sts:ExternalId), so that write
    is not played here."""
    records = [
        kinesis_record(json.dumps(sample_event(0)).encode(), index=0),
        kinesis_record(kpl_aggregate([json.dumps(sample_event(i)).encode() for i in (1, 2)]), index=1),
        kinesis_record(json.dumps(sample_event(3, insert_id=False)).encode(), index=2),
    ]
    stack.operator("s3").put_object(
        Bucket=stack.known["KinesisFailedBatchesBucket"],
        Key=failed_batch_key(),
        Body=failed_batch_object(kinesis_event(records)),
    )
    return 4


def notifications(stack: Stack) -> list[str]:
    """What the retry queue holds, removed: S3's test event (sent when the bucket's notification was set) and the
    notification of each object written since."""
    sqs = stack.operator("sqs")
    queue = stack.known["KinesisRetryQueue"]
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def read_failed_batch(
    case: Case,
    template_variant: Variant,
    deployments: Deployments,
    sink: MixpanelSink,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Stack, Function, Run]:
    """The SQS function given S3's notification of a failed batch just written, from the retry queue."""
    function = (stack := stack_of(template_variant, deployments)).functions[SQS_FUNCTION]
    take_parked(stack)
    notifications(stack)  # an earlier case's, or S3's test event
    assert failed_batch(stack) == 4
    bodies = notifications(stack)
    assert [json.loads(body)["Records"][0]["s3"]["bucket"]["name"] for body in bodies] == [
        stack.known["KinesisFailedBatchesBucket"]
    ]
    for status in case.mixpanel_answers:
        sink.fail_next(status)
    retry_queue = str(stack.known["KinesisRetryQueue.Arn"])
    local = {"MIXPANEL_API_URL": sink.url}
    with deployments.decisions() as made:
        try:
            response = run_as_deployed(function, bodies, local, monkeypatch, retry_queue, attributes=case.attributes)
        except Exception as exc:
            return stack, function, Run(made, None, repr(exc))
    parked_messages, parked = take_parked(stack)
    outcome = Outcome(len(sink.events), len(parked), parked_messages, len(response["batchItemFailures"]))
    return stack, function, Run(made, outcome, None)


@pytest.mark.parametrize(
    ("variant", "case"),
    [
        pytest.param(variant, case, id=f"{variant}-{case}")
        for variant in WITH_A_STREAM
        for case in (FAILED_BATCH_READ, FAILED_BATCH_REPORTED)
    ],
)
def test_the_sqs_function_reads_a_failed_kinesis_batch_under_its_role(
    variant: Variant, case: Case, deployments: Deployments, sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, function, result = read_failed_batch(case, variant, deployments, sink, monkeypatch)

    assert denied(result.decisions, function) == []
    assert (result.error, result.outcome) == (None, case.outcome)
    assert_calls(result, case.calls(SQS_FUNCTION), stack, function)


def test_a_crash_looping_notification_is_parked_under_its_role_and_never_sent_to_the_source_dlq(
    deployments: Deployments, sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    variant = next(variant for variant in WITH_A_STREAM if variant.name == "stream")  # the stack creates its queue
    stack, function, result = read_failed_batch(FAILED_BATCH_CRASH_LOOP, variant, deployments, sink, monkeypatch)

    assert denied(result.decisions, function) == []
    assert (result.error, result.outcome) == (None, FAILED_BATCH_CRASH_LOOP.outcome)
    assert_calls(result, FAILED_BATCH_CRASH_LOOP.calls(SQS_FUNCTION), stack, function)
    sqs = stack.operator("sqs")
    assert "Messages" not in sqs.receive_message(QueueUrl=stack.known["SourceDeadLetterQueue"], VisibilityTimeout=0)


def test_a_failed_batch_the_role_may_not_read_is_reported_not_parked(
    deployments: Deployments, sink: MixpanelSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    variant = Variant(
        "no-s3-read",
        (SQS_FUNCTION, KINESIS_FUNCTION),
        lambda setup: {"SourceStreamArn": _stream(setup)},
        without(READ_FAILED_BATCH, "ReadFailedKinesisBatches", "SqsForwarderRole"),
    )

    stack, function, result = read_failed_batch(FAILED_BATCH_READ, variant, deployments, sink, monkeypatch)

    assert denied(result.decisions, function) == [
        f"{READ_FAILED_BATCH} on {resource_of(FAILED_BATCH, stack, function)} as {function.principal}: "
        "S3AccessDeniedError"
    ]
    # The object is still there to be read once the role may: its notification comes back later, nothing is parked.
    assert (result.error, result.outcome) == (None, Outcome(0, 0, 0, reported=1))
    assert_calls(result, FAILED_BATCH_REPORTED.sqs_actions + FAILED_BATCH_READ.actions, stack, function)
