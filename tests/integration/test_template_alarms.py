"""The alarms: each watches a metric the code emits (or AWS's), exists with what it watches, has a runbook entry,
and notifies the topic when an email is given."""

from __future__ import annotations

import re
from typing import Any

import pytest

from localdev.cfn import as_list, references_to
from mixpanel_forwarder.metrics import (
    EVENTS_REPORTED,
    INVOCATION_ERRORS,
    NAMESPACE,
    PARK_FAILURES,
    PROFILE_UPDATES_REPORTED,
    REQUESTS_PREFIX,
    SERVICE,
    SOURCE_DIMENSION,
)
from mixpanel_forwarder.sources import kinesis, sqs
from tests.integration.template import (
    FUNCTIONS,
    KINESIS_FUNCTION,
    PARAMETERS,
    QUEUE_ARN,
    RESOURCES,
    ROOT,
    SOURCE_QUEUE_ARN_EXPRESSION,
    SQS_FUNCTION,
    condition_holds,
    emitted_metrics,
    environment,
    evaluate,
    parameter_values,
    resources_of_type,
)

# --- what the code emits, as the alarms and the dashboard must name it ------------------------------------------------


def per_source(source: str) -> dict[str, str]:
    return {"service": SERVICE, SOURCE_DIMENSION: source}


def test_the_code_emits_what_the_template_is_built_on() -> None:
    emitted = emitted_metrics()

    # Sanity of emitted_metrics' reading: the counters the alarms use, for both sources, with exactly these dimensions.
    for name in (EVENTS_REPORTED, PROFILE_UPDATES_REPORTED, REQUESTS_PREFIX + "401", INVOCATION_ERRORS, PARK_FAILURES):
        assert emitted[name] == [per_source(sqs.NAME), per_source(kinesis.NAME)], name
    assert sorted(FUNCTIONS) == sorted(dims["function_name"][1:-1] for dims in emitted["ColdStart"])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_write_metrics_under_the_service_and_namespace_the_template_watches(function: str) -> None:
    variables = environment(function)

    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE
    assert variables.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE) == NAMESPACE
    assert variables.get("POWERTOOLS_METRICS_DISABLED", "false") == "false"


# --- the alarms -------------------------------------------------------------------------------------------------------

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
        # Informational: a failed Kinesis batch waits to be forwarded again, by itself.
        "KinesisRetryQueueAgeAlarm": alarm(
            "kinesis-retry-queue-age",
            "HasSourceStream",
            ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
            queue("KinesisRetryQueue"),
            "Maximum",
            15 * 60,
        ),
        "KinesisRetryDeadLetterQueueAlarm": alarm(
            "kinesis-retry-dlq", "HasSourceStream", QUEUE_DEPTH, queue("KinesisRetryDeadLetterQueue"), "Maximum", 0
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
            f"{prefix}ProfileRetryAlarm": alarm(
                f"{source}-profile-retries",
                condition,
                (NAMESPACE, PROFILE_UPDATES_REPORTED),
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


def runbook_alarms() -> str:
    """The alarms' entries of the runbook, docs/RUNBOOK.md, where README.md's "Operating it" (which every alarm's
    description names) sends the reader."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^## Operating it\n(.*?)^## ", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md should have an '## Operating it' section followed by another section"
    assert "(docs/RUNBOOK.md)" in match.group(1), "README's Operating it should link to docs/RUNBOOK.md"
    runbook = (ROOT / "docs" / "RUNBOOK.md").read_text()
    match = re.search(r"^## The alarms\n(.*?)^## ", runbook, re.MULTILINE | re.DOTALL)
    assert match, "docs/RUNBOOK.md should have a '## The alarms' section followed by another section"
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
    assert re.search(rf"^### .*`{suffix}`", runbook_alarms(), re.MULTILINE), f"docs/RUNBOOK.md has no entry {suffix}"


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
