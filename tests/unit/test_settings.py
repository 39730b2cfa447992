"""Environment variables into Settings: defaults, residency hosts, credentials, and each bad value refused naming its
variable."""

from __future__ import annotations

import base64

import pytest

from mixpanel_forwarder.destinations import ImportDestination
from mixpanel_forwarder.errors import ConfigError
from mixpanel_forwarder.settings import Settings
from mixpanel_forwarder.transport import Endpoint
from tests.conftest import BASE_ENV


def endpoint(settings: Settings) -> Endpoint:
    assert settings.credentials is not None
    destination = ImportDestination(settings.batch_max_events, settings.batch_max_bytes)
    return destination.endpoint(settings.api_url, settings.credentials)


def without(variable: str) -> dict[str, str]:
    return {name: value for name, value in BASE_ENV.items() if name != variable}


def test_settings_defaults_to_us_host_with_strict_mode_and_project_id() -> None:
    settings = Settings.from_env(BASE_ENV)

    assert settings.api_url == "https://api.mixpanel.com"
    assert endpoint(settings).url == "https://api.mixpanel.com/import?strict=1&project_id=4242"
    assert settings.batch_max_events == 2000
    assert settings.batch_max_bytes == 2 * 1024 * 1024
    assert settings.dead_letter_queue_url is None


@pytest.mark.parametrize(
    ("region", "host"), [("EU", "https://api-eu.mixpanel.com"), ("in", "https://api-in.mixpanel.com")]
)
def test_settings_region_picks_residency_host(region: str, host: str) -> None:
    assert Settings.from_env({**BASE_ENV, "MIXPANEL_REGION": region}).api_url == host


@pytest.mark.parametrize(("region", "shown"), [("uſ", "'uſ'"), ("ın", "'ın'"), ("ß", "'ß'"), ("ｅｕ", "'ｅｕ'")])
def test_settings_region_in_letters_other_than_ascii_is_refused_quoted_as_given(region: str, shown: str) -> None:
    # str.upper() makes "US" of "uſ" (a long s) and "IN" of "ın" (a dotless i), and "SS" of "ß": a region is
    # ASCII, as numbers are, and a refusal quotes what the variable holds, not what upper() made of it
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE_ENV, "MIXPANEL_REGION": region})
    assert raised.value.variable == "MIXPANEL_REGION"
    assert str(raised.value).endswith(f"got {shown}")


def test_settings_a_choice_refused_is_quoted_as_given() -> None:
    with pytest.raises(ConfigError, match=r"got 'Rudderstack'$"):
        Settings.from_env({**BASE_ENV, "PAYLOAD_FORMAT": "Rudderstack"})


def test_settings_explicit_url_wins_and_loses_a_trailing_import() -> None:
    settings = Settings.from_env({**BASE_ENV, "MIXPANEL_API_URL": "http://127.0.0.1:8765/import/"})
    assert endpoint(settings).url == "http://127.0.0.1:8765/import?strict=1&project_id=4242"


def test_settings_a_valid_region_beside_an_explicit_url_is_unused() -> None:
    env = {**BASE_ENV, "MIXPANEL_REGION": "EU", "MIXPANEL_API_URL": "https://proxy.example.com/mixpanel"}

    assert Settings.from_env(env).api_url == "https://proxy.example.com/mixpanel"


def test_settings_project_token_auth_needs_no_project_id() -> None:
    settings = Settings.from_env({"MIXPANEL_PROJECT_TOKEN": "tok123"})
    assert endpoint(settings).url.endswith("/import?strict=1")
    assert endpoint(settings).authorization == "Basic " + base64.b64encode(b"tok123:").decode()


def test_settings_profile_updates_take_the_token_beside_a_service_account() -> None:
    settings = Settings.from_env({**BASE_ENV, "MIXPANEL_PROJECT_TOKEN": "tok123"})
    assert settings.credentials is not None
    assert settings.credentials.token == "tok123"
    assert settings.credentials.username == BASE_ENV["MIXPANEL_SERVICE_ACCOUNT_USERNAME"]  # /import keeps it
    assert Settings.from_env(BASE_ENV).credentials.token is None  # type: ignore[union-attr]
    assert Settings.from_env({"MIXPANEL_PROJECT_TOKEN": "tok123"}).credentials.token == "tok123"  # type: ignore[union-attr]


def test_settings_profile_cap_and_identity_default_and_read() -> None:
    settings = Settings.from_env(BASE_ENV)
    assert (settings.profile_batch_max_updates, settings.id_merge) == (2000, "simplified")
    settings = Settings.from_env({**BASE_ENV, "PROFILE_BATCH_MAX_UPDATES": "200", "MIXPANEL_ID_MERGE": "Original"})
    assert (settings.profile_batch_max_updates, settings.id_merge) == (200, "original")


def test_settings_secret_arn_replaces_environment_credentials() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mixpanel-AbCdEf"
    settings = Settings.from_env({"MIXPANEL_CREDENTIALS_SECRET_ARN": arn, "MIXPANEL_PROJECT_ID": "7"})
    assert settings.credentials is None
    assert settings.credentials_secret_arn == arn
    assert settings.project_id == "7"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "MIXPANEL_SERVICE_ACCOUNT_USERNAME"),
        (
            {k: v for k, v in BASE_ENV.items() if k != "MIXPANEL_SERVICE_ACCOUNT_SECRET"},
            "MIXPANEL_SERVICE_ACCOUNT_SECRET",
        ),
        (without("MIXPANEL_PROJECT_ID"), "MIXPANEL_PROJECT_ID"),
        ({**BASE_ENV, "MIXPANEL_PROJECT_ID": "my-project"}, "MIXPANEL_PROJECT_ID"),
        ({**BASE_ENV, "MIXPANEL_REGION": "APAC"}, "MIXPANEL_REGION"),
        ({**BASE_ENV, "MIXPANEL_REGION": "APAC", "MIXPANEL_API_URL": "https://proxy.example.com"}, "MIXPANEL_REGION"),
        ({**BASE_ENV, "MIXPANEL_API_URL": "ftp://example.com"}, "MIXPANEL_API_URL"),
        ({**BASE_ENV, "MIXPANEL_API_URL": "http://mixpanel.example.com"}, "MIXPANEL_API_URL"),
        ({**BASE_ENV, "BATCH_MAX_EVENTS": "2001"}, "BATCH_MAX_EVENTS"),
        ({**BASE_ENV, "BATCH_MAX_BYTES": "lots"}, "BATCH_MAX_BYTES"),
        ({**BASE_ENV, "REQUEST_TIMEOUT_SECONDS": "0"}, "REQUEST_TIMEOUT_SECONDS"),
        ({**BASE_ENV, "MAX_CONCURRENT_REQUESTS": "0"}, "MAX_CONCURRENT_REQUESTS"),
        ({**BASE_ENV, "PROFILE_BATCH_MAX_UPDATES": "2001"}, "PROFILE_BATCH_MAX_UPDATES"),
        ({**BASE_ENV, "MIXPANEL_ID_MERGE": "v3"}, "MIXPANEL_ID_MERGE"),
        ({**BASE_ENV, "KINESIS_FAILED_BATCHES_BUCKET": "arn:aws:s3:::b-1"}, "KINESIS_FAILED_BATCHES_BUCKET"),
        ({**BASE_ENV, "KINESIS_FAILED_BATCHES_BUCKET": "s3://failed"}, "KINESIS_FAILED_BATCHES_BUCKET"),
        ({**BASE_ENV, "KINESIS_FAILED_BATCHES_BUCKET": "Failed-Batches"}, "KINESIS_FAILED_BATCHES_BUCKET"),
    ],
)
def test_settings_bad_or_missing_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)

    assert raised.value.variable == variable
    assert str(raised.value).startswith(variable)


def test_settings_never_show_the_secret() -> None:
    settings = Settings.from_env(BASE_ENV)
    assert "svc-secret-do-not-log" not in repr(settings)
    assert "svc-secret-do-not-log" not in str(settings)


def refusal(**overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE_ENV, **overrides})
    return raised.value


@pytest.mark.parametrize("url", ["https://api.mixpanel.com/import?strict=1", "https://api.mixpanel.com/?"])
def test_settings_api_url_with_a_query_is_refused(url: str) -> None:
    # GIVEN a query the forwarder would write its own after, as `…?strict=1/import?strict=1&project_id=…`
    assert refusal(MIXPANEL_API_URL=url).variable == "MIXPANEL_API_URL"


def test_settings_api_url_with_a_fragment_is_refused() -> None:
    assert refusal(MIXPANEL_API_URL="https://api.mixpanel.com#eu").variable == "MIXPANEL_API_URL"


def test_settings_api_url_with_credentials_is_refused_without_showing_the_password() -> None:
    error = refusal(MIXPANEL_API_URL="https://svc-user:hunter2@api.mixpanel.com")

    assert error.variable == "MIXPANEL_API_URL"
    assert "hunter2" not in str(error)


def test_settings_api_url_refused_for_its_scheme_never_shows_the_password() -> None:
    error = refusal(MIXPANEL_API_URL="ftp://svc-user:hunter2@example.com")

    assert error.variable == "MIXPANEL_API_URL"
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    "url", ["https://api.mixpanel.com:abc", "https://api.mixpanel.com:70000", "http://[::1"], ids=str
)
def test_settings_api_url_with_an_unreadable_host_or_port_is_refused(url: str) -> None:
    assert refusal(MIXPANEL_API_URL=url).variable == "MIXPANEL_API_URL"


@pytest.mark.parametrize("project_id", ["４２４２", "²", "1" * 21], ids=["full-width", "superscript", "21-digits"])
def test_settings_project_id_must_be_ascii_digits(project_id: str) -> None:
    # str.isdigit() accepts the first two; Mixpanel answers every request with 401.
    assert refusal(MIXPANEL_PROJECT_ID=project_id).variable == "MIXPANEL_PROJECT_ID"


def test_settings_whole_number_in_non_ascii_digits_is_refused() -> None:
    # int("４２") == 42 in Python
    assert refusal(BATCH_MAX_EVENTS="４２").variable == "BATCH_MAX_EVENTS"


def test_settings_number_in_non_ascii_digits_is_refused() -> None:
    # float("５") == 5.0 in Python
    assert refusal(REQUEST_TIMEOUT_SECONDS="５").variable == "REQUEST_TIMEOUT_SECONDS"


class _Secret:
    """A Parameters provider's stand-in: the secret's value, as Powertools would hand it over."""

    def __init__(self, value: object) -> None:
        self.value = value

    def get(self, *args: object, **kwargs: object) -> object:
        return self.value


def test_a_secret_may_hold_a_service_account_and_a_token() -> None:
    from mixpanel_forwarder.credentials import SecretsManagerCredentials

    value = {"username": "svc", "secret": "s3cret", "project_id": "7", "token": "tok"}
    credentials = SecretsManagerCredentials("arn:secret", None, provider=_Secret(value)).get()
    assert (credentials.username, credentials.project_id, credentials.token) == ("svc", "7", "tok")
    only_token = SecretsManagerCredentials("arn:secret", None, provider=_Secret({"token": "tok"})).get()
    assert (only_token.username, only_token.password, only_token.token) == ("tok", "", "tok")


def test_a_secret_token_that_is_not_a_string_names_the_variable() -> None:
    from mixpanel_forwarder.credentials import SecretsManagerCredentials

    value = {"username": "svc", "secret": "s3cret", "project_id": "7", "token": 12}
    with pytest.raises(ConfigError) as raised:
        SecretsManagerCredentials("arn:secret", None, provider=_Secret(value)).get()
    assert raised.value.variable == "MIXPANEL_CREDENTIALS_SECRET_ARN"
    assert "token" in str(raised.value)


def test_formats_and_transforms_settings_default_to_auto_and_none() -> None:
    settings = Settings.from_env(BASE_ENV)
    assert (settings.payload_format, settings.transforms) == ("auto", None)
    assert (settings.segment_group_key, settings.amplitude_user_properties) == ("$group_id", False)
    given = Settings.from_env(
        {
            **BASE_ENV,
            "PAYLOAD_FORMAT": "Segment",
            "SEGMENT_GROUP_KEY": "company_id",
            "AMPLITUDE_USER_PROPERTIES": "profile",
            "TRANSFORMS": '{"drop_events": ["Heartbeat"]}',
        }
    )
    assert (given.payload_format, given.segment_group_key, given.amplitude_user_properties) == (
        "segment",
        "company_id",
        True,
    )
    assert given.transforms is not None
    assert given.transforms.drop_events("Heartbeat")


def test_the_mapping_rules_are_the_mapping_settings_not_at_their_defaults() -> None:
    explicit_defaults = {
        "PAYLOAD_FORMAT": "auto",
        "SEGMENT_GROUP_KEY": "$group_id",
        "AMPLITUDE_USER_PROPERTIES": "ignore",
        "MIXPANEL_ID_MERGE": "simplified",
    }
    assert Settings.from_env(BASE_ENV).mapping_rules() == ()
    assert Settings.from_env({**BASE_ENV, **explicit_defaults}).mapping_rules() == ()
    given = {
        "TRANSFORMS": '{"drop_events": ["Heartbeat"]}',
        "PAYLOAD_FORMAT": "segment",
        "SEGMENT_GROUP_KEY": "company_id",
        "AMPLITUDE_USER_PROPERTIES": "profile",
        "MIXPANEL_ID_MERGE": "original",
    }
    assert Settings.from_env({**BASE_ENV, **given}).mapping_rules() == tuple(given)
    assert Settings.from_env({**BASE_ENV, "MIXPANEL_ID_MERGE": "original"}).mapping_rules() == ("MIXPANEL_ID_MERGE",)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("PAYLOAD_FORMAT", "rudderstack", "must be one of auto, mixpanel, segment, amplitude"),
        ("AMPLITUDE_USER_PROPERTIES", "yes", "must be one of ignore, profile"),
        ("TRANSFORMS", '{"drop": []}', "'drop' is not a rule"),
    ],
)
def test_a_bad_format_or_transform_setting_names_its_variable(variable: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE_ENV, variable: value})
    assert raised.value.variable == variable
    assert named in str(raised.value)


def test_the_hash_key_comes_from_the_environment_locally_or_the_secret_and_is_never_shown() -> None:
    from mixpanel_forwarder.credentials import SecretsManagerCredentials

    local = Settings.from_env({**BASE_ENV, "TRANSFORM_HASH_KEY": "local-key-of-sixteen"})
    assert local.credentials is not None
    assert local.credentials.hash_key == "local-key-of-sixteen"
    assert "local-key-of-sixteen" not in repr(local)
    value = {"token": "tok", "hash_key": "secret-key-of-sixteen"}
    assert SecretsManagerCredentials("arn:secret", None, provider=_Secret(value)).get().hash_key == value["hash_key"]
    with pytest.raises(ConfigError) as raised:
        SecretsManagerCredentials("arn:secret", None, provider=_Secret({"token": "tok", "hash_key": 7})).get()
    assert 'its "hash_key" must be a non-empty string' in str(raised.value)
    secret_env = {**without("MIXPANEL_SERVICE_ACCOUNT_USERNAME"), "MIXPANEL_CREDENTIALS_SECRET_ARN": "arn:secret"}
    with pytest.raises(ConfigError) as both:
        Settings.from_env({**secret_env, "TRANSFORM_HASH_KEY": "local-key-of-sixteen"})
    assert both.value.variable == "TRANSFORM_HASH_KEY"
    assert '"hash_key"' in str(both.value)
    assert "local-key-of-sixteen" not in str(both.value)


def test_the_failed_batches_bucket_is_read_by_name_and_unset_when_empty() -> None:
    bucket = "mixpanel-forwarder-1c2fa620-982a-11e3-aff7-50e2416294e0"

    assert (
        Settings.from_env({**BASE_ENV, "KINESIS_FAILED_BATCHES_BUCKET": bucket}).kinesis_failed_batches_bucket == bucket
    )
    assert Settings.from_env({**BASE_ENV, "KINESIS_FAILED_BATCHES_BUCKET": ""}).kinesis_failed_batches_bucket is None
    assert Settings.from_env(BASE_ENV).kinesis_failed_batches_bucket is None
