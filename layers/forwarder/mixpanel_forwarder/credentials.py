"""Mixpanel credentials: from the environment (local use) or from a Secrets Manager secret.

A secret is read once per container through Powertools Parameters and read again, once, when Mixpanel
answers 401 (the secret was rotated); each read is bounded by the time the invocation has left. Secret
values never reach a log line, an error or a repr.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from . import aws
from .errors import ConfigError, CredentialsError

# The variables a credentials error names (settings.py reads them, with the others).
MIXPANEL_PROJECT_ID = "MIXPANEL_PROJECT_ID"
MIXPANEL_CREDENTIALS_SECRET_ARN = "MIXPANEL_CREDENTIALS_SECRET_ARN"  # noqa: S105 - a variable name

# Mixpanel's project ids are small integers; twenty digits is far beyond any, yet bounds what is put in a URL.
_PROJECT_ID_DIGITS = 20


def is_project_id(value: str) -> bool:
    """ASCII digits only: `str.isdigit` also takes "４２" or "²", which Mixpanel answers with 401 on every call."""
    return 0 < len(value) <= _PROJECT_ID_DIGITS and value.isascii() and value.isdigit()


class Credentials(NamedTuple):
    """Basic-auth pair for /import (`project_id` is None for project-token auth), the project token that profile
    updates carry inside them (None: there is none, and profile updates are refused), and the key that
    TRANSFORMS' hash_properties hashes with."""

    username: str
    password: str
    project_id: str | None
    token: str | None = None
    hash_key: str | None = None

    def __repr__(self) -> str:  # never show the secret, even in a traceback's locals
        return f"Credentials(username={self.username!r}, project_id={self.project_id!r})"


class CredentialsSource(Protocol):
    def get(self, *, refresh: bool = False, within: float | None = None) -> Credentials:
        """The credentials to use; `refresh` reads them again from where they are kept, taking at most
        `within` seconds if given (CredentialsError after that)."""
        ...


class StaticCredentials:
    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def get(self, *, refresh: bool = False, within: float | None = None) -> Credentials:
        return self._credentials


class SecretsManagerCredentials:
    """A JSON secret `{"username", "secret"[, "project_id"][, "token"]}` or `{"token"}`, each with an optional
    `"hash_key"`."""

    def __init__(self, secret_arn: str, project_id: str | None, provider: Any = None) -> None:
        self._secret_arn = secret_arn
        self._project_id = project_id
        self._provider = provider
        self._credentials: Credentials | None = None

    def get(self, *, refresh: bool = False, within: float | None = None) -> Credentials:
        if self._credentials is None or refresh:
            self._credentials = self._parse(self._fetch(force=refresh, within=within))
        return self._credentials

    def _fetch(self, force: bool, within: float | None) -> Any:
        # Imported here: boto3 and Parameters cost ~0.2 s of cold start that env credentials never pay.
        from aws_lambda_powertools.utilities import parameters

        def read() -> Any:
            # The client is built inside the bounded call too: on a cold start that is most of the time.
            if self._provider is None:
                self._provider = parameters.SecretsProvider(boto_config=aws.client_config())
            return self._provider.get(self._secret_arn, transform="json", max_age=24 * 3600, force_fetch=force)

        try:
            return read() if within is None else aws.call_within(within, read)
        except aws.CallTimeout as exc:
            raise CredentialsError(f"cannot read the Mixpanel credentials secret: {exc}") from exc
        except parameters.exceptions.TransformParameterError:
            raise _config_error("the secret is not a JSON object") from None  # `from None`: keep its value out
        except parameters.exceptions.GetParameterError as exc:
            raise CredentialsError(f"cannot read the Mixpanel credentials secret: {_cause(exc)}") from exc

    def _parse(self, value: Any) -> Credentials:
        if not isinstance(value, dict):
            raise _config_error("the secret is not a JSON object")
        username, secret = value.get("username"), value.get("secret")
        token, hash_key = _optional_text(value, "token"), _optional_text(value, "hash_key")
        if isinstance(username, str) and username and isinstance(secret, str) and secret:
            _check_sendable(value, "username")
            _check_sendable(value, "secret")
            project_id = value.get("project_id") or self._project_id
            if project_id is None or not is_project_id(str(project_id)):
                raise ConfigError(MIXPANEL_PROJECT_ID, "a service account needs the numeric project id it imports into")
            return Credentials(username, secret, str(project_id), token, hash_key)
        if token is not None:
            return Credentials(username=token, password="", project_id=None, token=token, hash_key=hash_key)
        raise _config_error('the secret must hold {"username": …, "secret": …} or {"token": …}')


def _optional_text(value: dict[str, Any], key: str) -> str | None:
    found = value.get(key)
    if found is None:
        return None
    if not (isinstance(found, str) and found):
        raise _config_error(f'its "{key}" must be a non-empty string')  # the key's name, never its value
    _check_sendable(value, key)
    return found


def _check_sendable(value: dict[str, Any], key: str) -> None:
    """A JSON string may hold an unpaired surrogate ("\\ud800"), which no request can carry: refused here, naming the
    key, rather than failing each request with an error that would quote the value."""
    try:
        value[key].encode()
    except UnicodeEncodeError:
        raise _config_error(f'its "{key}" holds an unpaired surrogate (a "\\ud800"-like escape): not text') from None


def _config_error(problem: str) -> ConfigError:
    return ConfigError(MIXPANEL_CREDENTIALS_SECRET_ARN, problem)


def _cause(exc: BaseException) -> str:
    """The botocore error behind a Parameters error, which wraps it as its context: its AWS code if it has
    one (`AccessDeniedException`), else its type and clipped message (`ReadTimeoutError: Read timeout on
    endpoint URL: "…"`); never a response body."""
    cause = exc.__cause__ or exc.__context__ or exc
    described = aws.describe(cause)
    return str(described["code"] or f"{described['type']}: {described['detail']}")


def credentials_source(
    credentials: Credentials | None, secret_arn: str | None, project_id: str | None
) -> CredentialsSource:
    """Where the credentials come from: the secret when one is named, else those from the environment."""
    if secret_arn is not None:
        return SecretsManagerCredentials(secret_arn, project_id)
    assert credentials is not None  # Settings.from_env requires one or the other
    return StaticCredentials(credentials)
