"""The sources: the SQS and Kinesis event source mappings, the queues the stack creates and what they keep."""

from __future__ import annotations

import re
from typing import Any

import pytest

from localdev.cfn import references_to
from mixpanel_forwarder.settings import Settings
from mixpanel_forwarder.sqs_schedule import Schedule
from tests.conftest import BASE_ENV as SETTINGS_ENV
from tests.integration.template import (
    FAILED_BATCHES,
    FAILED_BATCHES_BUCKET_ARN,
    KINESIS_FUNCTION,
    PARAMETERS,
    QUEUE_ARN,
    RESOURCES,
    RETRY_QUEUE_ARN,
    SOURCE_QUEUE_ARN_EXPRESSION,
    SQS_FUNCTION,
    STACK,
    STREAM_ARN,
    environment,
    evaluate,
    parameter_values,
    resources_of_type,
    single_event,
)

FOURTEEN_DAYS = 14 * 24 * 3600


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

    assert set(queues) >= {
        "SourceQueue",
        "SourceDeadLetterQueue",
        "ParkedEventsQueue",
        "KinesisRetryQueue",
        "KinesisRetryDeadLetterQueue",
    }
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
    "queue",
    [
        "SourceQueue",
        "SourceDeadLetterQueue",
        "ParkedEventsQueue",
        "KinesisRetryQueue",
        "KinesisRetryDeadLetterQueue",
        "KinesisFailedBatchesBucket",
    ],
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


def test_kinesis_mapping_retries_a_failing_batch_until_its_records_reach_an_age_the_stream_still_holds() -> None:
    properties = single_event(KINESIS_FUNCTION)["Properties"]
    defaults = parameter_values()

    retries = properties["MaximumRetryAttempts"]
    age = properties["MaximumRecordAgeInSeconds"]

    # Retries without a count (poison records are parked by the function, so only passing failures fail a batch),
    # bounded by a record age below the stream's default retention of 24 hours: Lambda then gives the batch up whole.
    assert retries == {"Ref": "KinesisMaximumRetryAttempts"}
    assert evaluate(retries, defaults) == -1
    assert age == {"Ref": "KinesisMaximumRecordAgeInSeconds"}
    assert 60 <= evaluate(age, defaults) < 24 * 3600


def test_kinesis_mapping_writes_what_it_gives_up_on_whole_to_the_failed_batches_bucket() -> None:
    properties = single_event(KINESIS_FUNCTION)["Properties"]

    # The bucket's ARN, with no SAM `Type`: SAM would add a policy only to a role it makes, and this role is ours.
    assert properties["DestinationConfig"] == {"OnFailure": {"Destination": FAILED_BATCHES_BUCKET_ARN}}
    assert RESOURCES["KinesisFailedBatchesBucket"]["Type"] == "AWS::S3::Bucket"


def test_kinesis_mapping_takes_its_settings_from_the_parameters() -> None:
    properties = single_event(KINESIS_FUNCTION)["Properties"]

    assert properties["Stream"] == {"Ref": "SourceStreamArn"}
    assert properties["StartingPosition"] == {"Ref": "KinesisStartingPosition"}
    assert properties["ParallelizationFactor"] == {"Ref": "KinesisParallelizationFactor"}
    assert properties["BatchSize"] == {"Ref": "KinesisBatchSize"}


@pytest.mark.parametrize(
    "resource",
    [
        "KinesisForwarderFunction",
        "KinesisForwarderRole",
        "KinesisForwarderLogGroup",
        "KinesisFailedBatchesBucket",
        "KinesisFailedBatchesBucketPolicy",
        "KinesisRetryQueue",
        "KinesisRetryDeadLetterQueue",
        "KinesisRetryQueuePolicy",
        "KinesisRetryQueueMapping",
    ],
)
def test_kinesis_resources_exist_only_with_a_stream(resource: str) -> None:
    assert RESOURCES[resource]["Condition"] == "HasSourceStream"


# --- what Lambda gives up on: the failed-batches bucket, its notifications, the SQS function's second source ------

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/forwarder/1c2fa620-982a-11e3-aff7-50e2416294e0"
AS_DEPLOYED = {"AWS::StackId": STACK_ID, "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
PARKED_DAYS = RESOURCES["ParkedEventsQueue"]["Properties"]["MessageRetentionPeriod"] // (24 * 3600)


def bucket_name() -> str:
    name = STACK.deployed(AS_DEPLOYED).evaluate(RESOURCES["KinesisFailedBatchesBucket"]["Properties"]["BucketName"], {})
    assert isinstance(name, str)
    return name


def test_the_bucket_is_named_from_the_stack_id_within_s3s_naming_rules() -> None:
    name = bucket_name()

    assert name == "mixpanel-forwarder-1c2fa620-982a-11e3-aff7-50e2416294e0"
    # 3 to 63 lowercase letters, digits and hyphens, a letter or digit at each end: a stack id's UUID always fits.
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name)
    Settings.from_env({**SETTINGS_ENV, "KINESIS_FAILED_BATCHES_BUCKET": name})  # the function takes it


def test_the_queue_policy_names_the_bucket_without_referring_to_it_so_there_is_no_cycle() -> None:
    bucket = RESOURCES["KinesisFailedBatchesBucket"]
    policy = RESOURCES["KinesisRetryQueuePolicy"]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    source_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]

    # S3 checks that it may send to the queue when the notification is set: the policy comes first, naming the bucket.
    assert bucket["DependsOn"] == "KinesisRetryQueuePolicy"
    assert "KinesisFailedBatchesBucket" not in references_to(policy)
    assert STACK.deployed(AS_DEPLOYED).evaluate(source_arn, {}) == f"arn:aws:s3:::{bucket_name()}"


def test_only_the_stacks_bucket_in_this_account_may_send_to_the_retry_queue() -> None:
    properties = RESOURCES["KinesisRetryQueuePolicy"]["Properties"]
    [statement] = properties["PolicyDocument"]["Statement"]

    assert properties["Queues"] == [{"Ref": "KinesisRetryQueue"}]
    assert {key: value for key, value in statement.items() if key not in ("Sid", "Condition")} == {
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": RETRY_QUEUE_ARN,
    }
    assert sorted(statement["Condition"]) == ["ArnEquals", "StringEquals"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_bucket_is_private_encrypted_and_tls_only() -> None:
    properties = RESOURCES["KinesisFailedBatchesBucket"]["Properties"]

    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    policy = RESOURCES["KinesisFailedBatchesBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "KinesisFailedBatchesBucket"}
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [FAILED_BATCHES_BUCKET_ARN, FAILED_BATCHES],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_a_batch_is_kept_as_long_as_its_notification_may_still_ask_for_it() -> None:
    [rule] = RESOURCES["KinesisFailedBatchesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    retry_days = RESOURCES["KinesisRetryQueue"]["Properties"]["MessageRetentionPeriod"] // (24 * 3600)

    # A notification waits up to 14 days in the retry queue; parked as it came, 14 more, and a replay reads it then.
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] >= retry_days + PARKED_DAYS
    assert set(rule) == {"Id", "Status", "ExpirationInDays"}  # the whole bucket: no prefix, no transition


def test_the_bucket_notifies_the_retry_queue_of_every_object_created_and_nothing_else() -> None:
    notifications = RESOURCES["KinesisFailedBatchesBucket"]["Properties"]["NotificationConfiguration"]

    assert notifications == {"QueueConfigurations": [{"Event": "s3:ObjectCreated:*", "Queue": RETRY_QUEUE_ARN}]}


def test_the_retry_queue_keeps_notifications_fourteen_days_and_dead_letters_only_after_sqss_most_receives() -> None:
    queue = RESOURCES["KinesisRetryQueue"]["Properties"]
    dead_letters = RESOURCES["KinesisRetryDeadLetterQueue"]["Properties"]

    assert queue["MessageRetentionPeriod"] == dead_letters["MessageRetentionPeriod"] == FOURTEEN_DAYS
    assert queue["SqsManagedSseEnabled"] is dead_letters["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["KinesisRetryDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 1000,
    }


@pytest.mark.parametrize("timeout", PARAMETERS["FunctionTimeout"]["AllowedValues"])
def test_the_retry_queue_has_the_source_queues_visibility_timeout(timeout: int) -> None:
    params = parameter_values(FunctionTimeout=timeout)

    def visibility(queue: str) -> Any:
        return evaluate(RESOURCES[queue]["Properties"]["VisibilityTimeout"], params)

    assert visibility("KinesisRetryQueue") == visibility("SourceQueue")


def test_the_sqs_function_reads_the_retry_queue_one_failed_batch_at_a_time() -> None:
    mapping = RESOURCES["KinesisRetryQueueMapping"]

    assert mapping["Type"] == "AWS::Lambda::EventSourceMapping"
    # Each message names a whole batch, as large as the Kinesis function took it: one per invocation, few at once.
    assert mapping["Properties"] == {
        "FunctionName": {"Ref": SQS_FUNCTION},
        "EventSourceArn": RETRY_QUEUE_ARN,
        "BatchSize": 1,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": 2},
    }


@pytest.mark.parametrize("stream", ["", STREAM_ARN], ids=["without-a-stream", "with-a-stream"])
def test_the_sqs_function_knows_the_bucket_whose_notifications_it_forwards_only_with_a_stream(stream: str) -> None:
    params = parameter_values(SourceStreamArn=stream)

    value = evaluate(environment(SQS_FUNCTION)["KINESIS_FAILED_BATCHES_BUCKET"], params)

    assert value == ({"Ref": "KinesisFailedBatchesBucket"} if stream else "")
    if not stream:  # empty: the setting is unset, and no notification is read
        settings = Settings.from_env({**SETTINGS_ENV, "KINESIS_FAILED_BATCHES_BUCKET": value})
        assert settings.kinesis_failed_batches_bucket is None
    assert "KINESIS_FAILED_BATCHES_BUCKET" not in environment(KINESIS_FUNCTION)


# --- the SQS backoff against the created queue ---------------------------------------------------------------------


@pytest.mark.parametrize("queue_name", ["SourceQueue", "KinesisRetryQueue"])
def test_the_created_queues_receives_outlast_its_retention_with_the_functions_backoff(queue_name: str) -> None:
    # A reported message comes back after d(n) at the least (redelivery.py): SQS's own redrive, after maxReceiveCount
    # receives, must not come before the queue deletes it; the function parks it first (two longest delays before).
    # Both queues the SQS function reads: a reported notification of a failed batch is hidden for its delay too.
    queue = RESOURCES[queue_name]["Properties"]
    receives = int(queue["RedrivePolicy"]["maxReceiveCount"])
    retention = int(queue["MessageRetentionPeriod"])
    defaults = Settings.from_env({"MIXPANEL_PROJECT_TOKEN": "t"})
    schedule = Schedule(defaults.sqs_retry_base, defaults.sqs_retry_max)

    assert receives == 1000  # SQS's most
    assert (retention, schedule.span(receives)) == (FOURTEEN_DAYS, 1_224_510)
    assert schedule.span(receives) > retention


def test_the_sqs_function_moves_crash_loops_to_the_created_queues_dead_letter_queue_only() -> None:
    created = evaluate(environment(SQS_FUNCTION)["SOURCE_DEAD_LETTER_QUEUE_URL"], parameter_values())
    given = evaluate(
        environment(SQS_FUNCTION)["SOURCE_DEAD_LETTER_QUEUE_URL"], parameter_values(SourceQueueArn=QUEUE_ARN)
    )

    assert created == {"Ref": "SourceDeadLetterQueue"}  # a queue's Ref is its URL
    assert given == ""  # an existing queue's crash loops are parked
    assert "SOURCE_DEAD_LETTER_QUEUE_URL" not in environment(KINESIS_FUNCTION)
