"""The sources: the SQS and Kinesis event source mappings, the queues the stack creates and what they keep."""

from __future__ import annotations

import pytest

from mixpanel_forwarder.settings import Settings
from mixpanel_forwarder.sqs_schedule import Schedule
from tests.integration.template import (
    KINESIS_FUNCTION,
    ON_FAILURE_QUEUE_ARN,
    PARAMETERS,
    QUEUE_ARN,
    RESOURCES,
    SOURCE_QUEUE_ARN_EXPRESSION,
    SQS_FUNCTION,
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


# --- the SQS backoff against the created queue ---------------------------------------------------------------------


def test_the_created_queues_receives_outlast_its_retention_with_the_functions_backoff() -> None:
    # A reported message comes back after d(n) at the least (redelivery.py): SQS's own redrive, after maxReceiveCount
    # receives, must not come before the queue deletes it; the function parks it first (two longest delays before).
    queue = RESOURCES["SourceQueue"]["Properties"]
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
