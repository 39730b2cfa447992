"""Credentials from a real Secrets Manager API (moto's server on loopback), through the real handler."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import boto3
import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import sqs_event, sqs_record
from localdev.sink import MixpanelSink
from mixpanel_forwarder.errors import ConfigError, CredentialsError
from mixpanel_forwarder.log import formatter, logger
from tests.functional.conftest import load_event

NO_ENV_CREDENTIALS = {
    "MIXPANEL_SERVICE_ACCOUNT_USERNAME": None,
    "MIXPANEL_SERVICE_ACCOUNT_SECRET": None,
    "MIXPANEL_PROJECT_TOKEN": None,
}


def create_secret(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    arn: str = boto3.client("secretsmanager").create_secret(Name="mixpanel-forwarder", SecretString=text)["ARN"]
    return arn


def use_secret(forwarder_env: Any, arn: str, **overrides: str | None) -> None:
    forwarder_env(**NO_ENV_CREDENTIALS, MIXPANEL_CREDENTIALS_SECRET_ARN=arn, **overrides)


def test_service_account_secret_imports(sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str) -> None:
    use_secret(forwarder_env, create_secret({"username": "sink-user", "secret": "sink-secret"}))

    assert sqs_handler(load_event("sqs-standard.json"), context) == {"batchItemFailures": []}
    assert len(sink.events) == 5


def test_project_token_secret_imports(sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str) -> None:
    use_secret(forwarder_env, create_secret({"token": "sink-token"}), MIXPANEL_PROJECT_ID=None)

    assert sqs_handler(load_event("sqs-sns.json"), context) == {"batchItemFailures": []}
    assert len(sink.events) == 3


def test_secret_is_read_once_per_container(sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str) -> None:
    arn = create_secret({"username": "sink-user", "secret": "sink-secret"})
    use_secret(forwarder_env, arn)
    sqs_handler(load_event("sqs-standard.json"), context)

    # Were it read again, this bad value would be used and refused.
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString='{"username":"x","secret":"bad"}')
    assert sqs_handler(load_event("sqs-sns.json"), context) == {"batchItemFailures": []}


def test_rotated_secret_is_read_again_after_a_401(forwarder_env: Any, context: Any, aws: str) -> None:
    arn = create_secret({"username": "sink-user", "secret": "before-rotation"})
    with MixpanelSink(secret="after-rotation") as sink:
        use_secret(forwarder_env, arn, MIXPANEL_API_URL=sink.url)
        event = load_event("sqs-standard.json")

        first = sqs_handler(event, context)  # 401, re-read: still the old secret
        boto3.client("secretsmanager").put_secret_value(
            SecretId=arn, SecretString=json.dumps({"username": "sink-user", "secret": "after-rotation"})
        )
        second = sqs_handler(event, context)  # cached old secret, 401, re-read: the new one

        assert len(first["batchItemFailures"]) == 5
        assert second == {"batchItemFailures": []}
        assert [log.status for log in sink.requests] == [401, 401, 200]
        assert len(sink.events) == 5


def test_updates_resent_after_a_401_carry_the_rotated_token_and_events_flow(
    sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str
) -> None:
    account = {"username": "sink-user", "secret": "sink-secret"}
    arn = create_secret({**account, "token": "old-token"})
    use_secret(forwarder_env, arn)
    assert sqs_handler(load_event("sqs-sns.json"), context) == {"batchItemFailures": []}  # the old token, cached

    boto3.client("secretsmanager").put_secret_value(
        SecretId=arn, SecretString=json.dumps({**account, "token": "sink-token"})
    )
    # Mixpanel answers 401 to the token it no longer takes (scripted: the sink, like Mixpanel, takes any token's shape).
    sink.fail_next(401, endpoint="/engage")
    updates = [{"$distinct_id": f"u{n}", "$set": {"plan": "pro"}} for n in range(3)]
    events = load_event("sqs-standard.json")["Records"]
    records = [*events, *(sqs_record(json.dumps(update), index=len(events) + n) for n, update in enumerate(updates))]

    assert sqs_handler(sqs_event(records), context) == {"batchItemFailures": []}

    assert [log.status for log in sink.requests if log.endpoint == "/engage"] == [401, 200]
    assert {key: profile.properties for key, profile in sink.users.items()} == {
        f"u{n}": {"plan": "pro"} for n in range(3)
    }
    assert sink.stats()["engage"]["wrong_token"] == 0  # the resent updates carry the new token
    assert len(sink.events) == 3 + 5  # the first invocation's, and this one's: nothing halted


@pytest.mark.parametrize(
    "value",
    ["not json at all but s3cr3t", {"user": "sink-user", "password": "s3cr3t"}, ["s3cr3t"]],
    ids=["not-json", "wrong-keys", "not-an-object"],
)
def test_malformed_secret_names_the_variable_and_never_shows_the_value(
    value: Any, forwarder_env: Any, context: Any, aws: str
) -> None:
    use_secret(forwarder_env, create_secret(value))

    with pytest.raises(ConfigError) as raised:
        sqs_handler(load_event("sqs-standard.json"), context)

    assert raised.value.variable == "MIXPANEL_CREDENTIALS_SECRET_ARN"
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    assert all("s3cr3t" not in str(exc) for exc in chain if exc is not None)


@pytest.mark.parametrize("key", ["username", "secret", "token"])
def test_a_secret_holding_an_unpaired_surrogate_names_the_variable_and_never_shows_the_value(
    key: str, sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str
) -> None:
    # Valid JSON (\ud800 is an escape JSON allows), yet no request can carry it: each request would fail with an
    # error quoting the value it was encoding, into the invocation's reasons and logs.
    secret = {"username": "sink-user", "secret": "sink-secret", "token": "sink-token"}
    text = json.dumps(secret).replace(f'"{secret[key]}"', f'"s3cr3t\\ud800{key}"')
    use_secret(forwarder_env, create_secret(text))

    with pytest.raises(ConfigError) as raised:
        sqs_handler(load_event("sqs-standard.json"), context)

    assert raised.value.variable == "MIXPANEL_CREDENTIALS_SECRET_ARN"
    assert f'its "{key}" holds an unpaired surrogate' in str(raised.value)
    assert "s3cr3t" not in str(raised.value)
    assert sink.requests == []


def test_service_account_secret_without_project_id_names_the_variable(
    forwarder_env: Any, context: Any, aws: str
) -> None:
    use_secret(forwarder_env, create_secret({"username": "u", "secret": "s"}), MIXPANEL_PROJECT_ID=None)

    with pytest.raises(ConfigError, match="MIXPANEL_PROJECT_ID"):
        sqs_handler(load_event("sqs-standard.json"), context)


def test_missing_secret_fails_the_invocation_so_the_batch_is_retried(
    sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str
) -> None:
    use_secret(forwarder_env, "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")

    with pytest.raises(CredentialsError, match="ResourceNotFoundException"):
        sqs_handler(load_event("sqs-standard.json"), context)
    assert sink.requests == []


def test_secret_value_never_reaches_the_logs(sink: MixpanelSink, forwarder_env: Any, context: Any, aws: str) -> None:
    use_secret(forwarder_env, create_secret({"username": "sink-user", "secret": "wrong-s3cr3t"}))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    try:
        sqs_handler(load_event("sqs-standard.json"), context)
    finally:
        logger.removeHandler(handler)

    assert "invocation summary" in stream.getvalue()
    assert "wrong-s3cr3t" not in stream.getvalue()


def test_secret_project_id_in_full_width_digits_names_the_variable(forwarder_env: Any, context: Any, aws: str) -> None:
    # "４２４２".isdigit() is True, yet Mixpanel would answer every request with 401.
    secret = {"username": "sink-user", "secret": "sink-secret", "project_id": "４２４２"}
    use_secret(forwarder_env, create_secret(secret), MIXPANEL_PROJECT_ID=None)

    with pytest.raises(ConfigError) as raised:
        sqs_handler(load_event("sqs-standard.json"), context)

    assert raised.value.variable == "MIXPANEL_PROJECT_ID"
