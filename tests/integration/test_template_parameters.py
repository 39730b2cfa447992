"""What users choose: the parameters' defaults, ranges and allowed values, and the rules between them."""

from __future__ import annotations

import re

import pytest

from localdev.cfn import references_to
from mixpanel_forwarder.model import PAYLOAD_FORMATS
from mixpanel_forwarder.settings import AMPLITUDE_USER_PROPERTY_CHOICES, Settings
from mixpanel_forwarder.transform_rules import MIN_HASH_KEY_CHARS
from tests.integration.template import (
    GLOBAL_FUNCTION,
    PARAMETERS,
    TEMPLATE,
    condition_holds,
    evaluate,
    parameter_values,
)


@pytest.mark.parametrize(
    ("name", "default", "allowed"),
    [
        ("MixpanelRegion", "US", ["US", "EU", "IN"]),
        ("KinesisStartingPosition", "LATEST", ["TRIM_HORIZON", "LATEST"]),
        ("Architecture", "arm64", ["arm64", "x86_64"]),
        ("MixpanelIdMerge", "simplified", ["simplified", "original"]),
        ("PayloadFormat", "auto", list(PAYLOAD_FORMATS)),
        ("AmplitudeUserProperties", "ignore", list(AMPLITUDE_USER_PROPERTY_CHOICES)),
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
        ("KinesisMaximumRetryAttempts", -1, -1, 10000),
        ("KinesisMaximumRecordAgeInSeconds", 82800, -1, 604800),
        ("FunctionMemory", 256, 128, 10240),
        ("ProfileBatchMaxUpdates", 2000, 1, 2000),
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


def test_the_hash_key_is_empty_or_long_enough_and_payload_settings_reach_the_functions_as_settings_read_them() -> None:
    pattern = PARAMETERS["TransformHashKey"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, "k" * MIN_HASH_KEY_CHARS)
    assert not re.fullmatch(pattern, "k" * (MIN_HASH_KEY_CHARS - 1))
    assert not re.fullmatch(pattern, 'k"' * MIN_HASH_KEY_CHARS)  # it is written into the secret's JSON
    assert PARAMETERS["Transforms"]["Default"] == ""
    variables = evaluate(GLOBAL_FUNCTION["Environment"]["Variables"], parameter_values())
    chosen = {
        "PAYLOAD_FORMAT": "segment",
        "SEGMENT_GROUP_KEY": variables["SEGMENT_GROUP_KEY"],
        "AMPLITUDE_USER_PROPERTIES": variables["AMPLITUDE_USER_PROPERTIES"],
        "TRANSFORMS": variables["TRANSFORMS"],
    }
    assert chosen["TRANSFORMS"] == ""  # empty: no rules
    env = {"MIXPANEL_PROJECT_TOKEN": "tok", **chosen}
    settings = Settings.from_env(env)
    assert (settings.payload_format, settings.segment_group_key, settings.transforms) == ("segment", "$group_id", None)


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


def test_default_sqs_batch_is_one_lambda_accepts() -> None:
    defaults = parameter_values()

    # A batch above 10 needs a batching window of at least one second.
    assert defaults["SqsBatchSize"] <= 10 or defaults["SqsMaximumBatchingWindowInSeconds"] >= 1
    rule = TEMPLATE["Rules"]["SqsLargeBatchesNeedAWindow"]
    assert references_to(rule) >= {"SqsBatchSize", "SqsMaximumBatchingWindowInSeconds"}


def lambda_takes_record_age(seconds: int) -> bool:
    """Lambda's own rule: "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"
    (its error, quoted in https://github.com/hashicorp/terraform-provider-aws/pull/16113)."""
    return seconds == -1 or 60 <= seconds <= 604800


@pytest.mark.parametrize("seconds", [-1, 0, 1, 30, 59, 60, 61, 82800, 604800])
def test_the_record_age_the_template_takes_is_what_lambda_takes(seconds: int) -> None:
    spec = PARAMETERS["KinesisMaximumRecordAgeInSeconds"]
    rule = TEMPLATE["Rules"]["KinesisRecordAgeIsAllowed"]
    assert "RuleCondition" not in rule
    [assertion] = rule["Assertions"]
    [[refused, asked]] = [assertion["Assert"]["Fn::Not"][0]["Fn::Contains"]]
    assert asked == {"Ref": "KinesisMaximumRecordAgeInSeconds"}

    in_range = spec["MinValue"] <= seconds <= spec["MaxValue"]
    taken = in_range and str(seconds) not in refused

    assert taken == lambda_takes_record_age(seconds)
    assert "-1 (forever) or from 60 to 604800" in assertion["AssertDescription"]


def test_the_default_record_age_is_below_the_streams_default_retention_and_the_descriptions_say_why() -> None:
    age = PARAMETERS["KinesisMaximumRecordAgeInSeconds"]
    retries = PARAMETERS["KinesisMaximumRetryAttempts"]

    # Lambda gives up on a batch while the stream (24 hours by default) still holds it, and writes it whole to the
    # failed-batches bucket, from which it is forwarded again.
    assert 0 < age["Default"] < 24 * 3600
    assert "below the stream's retention" in " ".join(age["Description"].split())
    # Retrying until then is safe because poison records are parked by the function: only passing failures wait.
    assert retries["Default"] == -1
    assert "parks a record it can never forward" in " ".join(retries["Description"].split())


KEY_PARAMETERS = {  # a customer managed key's parameter: what it encrypts, which the stack must be given
    "MixpanelCredentialsSecretKmsKeyArn": "MixpanelCredentialsSecretArn",
    "SourceQueueKmsKeyArn": "SourceQueueArn",
    "SourceStreamKmsKeyArn": "SourceStreamArn",
}


@pytest.mark.parametrize("name", KEY_PARAMETERS)
def test_a_kms_key_is_named_by_its_key_arn_and_never_by_an_alias(name: str) -> None:
    # IAM authorizes kms:Decrypt on the key's ARN: a policy naming an alias grants nothing on the key, and an alias can
    # be pointed at another key later (https://docs.aws.amazon.com/kms/latest/developerguide/cmks-in-iam-policies.html).
    spec = PARAMETERS[name]
    pattern = spec["AllowedPattern"]

    assert spec["Default"] == ""
    for taken in (
        "",
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",  # a multi-Region key
        "arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ):
        assert re.fullmatch(pattern, taken), taken
    for refused in (
        "arn:aws:kms:eu-west-1:123456789012:alias/mixpanel",
        "alias/mixpanel",
        "1234abcd-12ab-34cd-56ef-1234567890ab",  # a key id: no account, no Region
        "arn:aws:kms:eu-west-1:123456789012:key/*",
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab ",
    ):
        assert not re.fullmatch(pattern, refused), refused
    assert "not an alias" in spec["ConstraintDescription"]


def key_refusals(params: dict[str, object]) -> list[str]:
    """What the template's rules about the keys say of the parameters: each failed assertion's description."""
    found = []
    for rule in TEMPLATE["Rules"].values():
        if not references_to(rule) & KEY_PARAMETERS.keys():
            continue
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], params):
            continue
        found += [each["AssertDescription"] for each in rule["Assertions"] if not evaluate(each["Assert"], params)]
    return found


@pytest.mark.parametrize(("key", "encrypted"), KEY_PARAMETERS.items())
def test_a_kms_key_without_what_it_encrypts_is_refused_naming_both(key: str, encrypted: str) -> None:
    arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    existing = {
        "MixpanelCredentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mixpanel-AbC123",
        "SourceQueueArn": "arn:aws:sqs:eu-west-1:123456789012:events",
        "SourceStreamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/events",
    }

    assert key_refusals(parameter_values()) == []
    [refused] = key_refusals(parameter_values(**{key: arn}))
    assert key in refused
    assert encrypted in refused
    assert key_refusals(parameter_values(**{key: arn, encrypted: existing[encrypted]})) == []
