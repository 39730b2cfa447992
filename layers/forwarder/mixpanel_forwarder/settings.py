"""Settings, read once from environment variables into an immutable NamedTuple.

Every missing or invalid value fails fast with a ConfigError naming the variable to fix: a value the
forwarder would accept only to fail on every call (a URL with a query, a project id in full-width
digits) is refused at start rather than at the first request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from .credentials import MIXPANEL_CREDENTIALS_SECRET_ARN, MIXPANEL_PROJECT_ID, Credentials, is_project_id
from .errors import ConfigError
from .formats.base import SEGMENT_DEFAULT_GROUP_KEY
from .model import ID_MERGE_ORIGINAL, ID_MERGE_SIMPLIFIED, PAYLOAD_FORMATS
from .transform_rules import TRANSFORM_HASH_KEY, TRANSFORMS, TransformRules, read_rules

MIXPANEL_API_URL = "MIXPANEL_API_URL"
MIXPANEL_REGION = "MIXPANEL_REGION"
MIXPANEL_SERVICE_ACCOUNT_USERNAME = "MIXPANEL_SERVICE_ACCOUNT_USERNAME"
MIXPANEL_SERVICE_ACCOUNT_SECRET = "MIXPANEL_SERVICE_ACCOUNT_SECRET"  # noqa: S105 - a variable name
MIXPANEL_PROJECT_TOKEN = "MIXPANEL_PROJECT_TOKEN"  # noqa: S105 - a variable name
DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"
DEAD_LETTER_BUCKET = "DEAD_LETTER_BUCKET"
KINESIS_FAILED_BATCHES_BUCKET = "KINESIS_FAILED_BATCHES_BUCKET"
BATCH_MAX_EVENTS = "BATCH_MAX_EVENTS"
BATCH_MAX_BYTES = "BATCH_MAX_BYTES"
MAX_CONCURRENT_REQUESTS = "MAX_CONCURRENT_REQUESTS"
CONNECT_TIMEOUT_SECONDS = "CONNECT_TIMEOUT_SECONDS"
REQUEST_TIMEOUT_SECONDS = "REQUEST_TIMEOUT_SECONDS"
PROBE_TIMEOUT_SECONDS = "PROBE_TIMEOUT_SECONDS"
MAX_ATTEMPTS = "MAX_ATTEMPTS"
RETRY_BASE_SECONDS = "RETRY_BASE_SECONDS"
RETRY_MAX_SECONDS = "RETRY_MAX_SECONDS"
RETRY_JITTER_MIN_SECONDS = "RETRY_JITTER_MIN_SECONDS"
RETRY_JITTER_MAX_SECONDS = "RETRY_JITTER_MAX_SECONDS"
DEADLINE_MARGIN_MS = "DEADLINE_MARGIN_MS"
PROFILE_BATCH_MAX_UPDATES = "PROFILE_BATCH_MAX_UPDATES"
MIXPANEL_ID_MERGE = "MIXPANEL_ID_MERGE"
PAYLOAD_FORMAT = "PAYLOAD_FORMAT"
SEGMENT_GROUP_KEY = "SEGMENT_GROUP_KEY"
AMPLITUDE_USER_PROPERTIES = "AMPLITUDE_USER_PROPERTIES"
AMPLITUDE_USER_PROPERTY_CHOICES = ("ignore", "profile")  # profile: a $set on the user's profile
# Reported SQS records come back later each time (redelivery.py): seconds on SQS's clock.
SQS_RETRY_BASE_SECONDS = "SQS_RETRY_BASE_SECONDS"
SQS_RETRY_MAX_SECONDS = "SQS_RETRY_MAX_SECONDS"
SQS_CRASH_RETURNS = "SQS_CRASH_RETURNS"
SOURCE_DEAD_LETTER_QUEUE_URL = "SOURCE_DEAD_LETTER_QUEUE_URL"
TRACING_ENABLED = "TRACING_ENABLED"  # read by runtime.py, before any setting: it decides how the handler is wrapped

REGION_HOSTS = {
    "US": "https://api.mixpanel.com",
    "EU": "https://api-eu.mixpanel.com",
    "IN": "https://api-in.mixpanel.com",
}
MAX_EVENTS_PER_REQUEST = 2000  # Mixpanel's hard limit per /import request
# A visibility timeout ends at most 12 hours after the receive (43,200 s): the longest delay and its tenth of
# jitter (39,600 s) leave the longest invocation (900 s) and more room under it.
SQS_MAX_DELAY_SECONDS = 36_000
MAX_UPDATES_PER_REQUEST = 2000  # and per /engage or /groups request ("limits … to 2000")
DEFAULT_MAX_BYTES = 2 * 1024 * 1024  # uncompressed; the limit in Mixpanel's own 413 example
# Plain HTTP only to these: this machine, or (from a `sam local` container) the Docker host running the sink.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "host.docker.internal"})


class Settings(NamedTuple):
    """Immutable; a NamedTuple rather than a frozen dataclass, which costs ~1.5 ms more of cold start."""

    api_url: str
    # Exactly one of the two: credentials from the environment (local use), or a Secrets Manager secret.
    credentials: Credentials | None
    credentials_secret_arn: str | None = None
    project_id: str | None = None
    dead_letter_queue_url: str | None = None
    dead_letter_bucket: str | None = None
    batch_max_events: int = MAX_EVENTS_PER_REQUEST
    batch_max_bytes: int = DEFAULT_MAX_BYTES
    max_concurrent_requests: int = 8
    connect_timeout: float = 3.0
    request_timeout: float = 15.0
    probe_timeout: float = 5.0  # the one request an invocation sends while Mixpanel is down (availability.py)
    max_attempts: int = 6
    retry_base: float = 2.0
    retry_max: float = 60.0
    retry_jitter_min: float = 1.0
    retry_jitter_max: float = 5.0
    deadline_margin_ms: int = 3000
    profile_batch_max_updates: int = MAX_UPDATES_PER_REQUEST
    id_merge: str = ID_MERGE_SIMPLIFIED  # the project's identity API: Mixpanel cannot be asked which
    payload_format: str = PAYLOAD_FORMATS[0]  # auto: each message recognised by its shape
    transforms: TransformRules | None = None  # TRANSFORMS, read and checked; None when there are no rules
    segment_group_key: str = SEGMENT_DEFAULT_GROUP_KEY  # the group key a Segment group call's profile is under
    amplitude_user_properties: bool = False  # an Amplitude event's user_properties also a $set on its user
    # The bucket Lambda writes the Kinesis batches it gives up on to: its S3 notifications are forwarded again.
    kinesis_failed_batches_bucket: str | None = None
    sqs_retry_base: int = 30  # a reported SQS record's first delay; it doubles with each receive
    sqs_retry_max: int = 1230  # and stops growing here: the backlog returns within this once Mixpanel is back
    sqs_crash_returns: int = 5  # receives beyond what that schedule explains before a record is moved on
    source_dead_letter_queue_url: str | None = None  # where a crash-looping record is moved (standard queues)

    def mapping_rules(self) -> tuple[str, ...]:
        """The settings that change how an arriving message is mapped, by variable name, those not at their
        defaults: a message parked before sending names them, and a replay without them refuses it."""
        defaults = Settings(self.api_url, self.credentials)
        return tuple(
            name
            for name, differs in (
                (TRANSFORMS, self.transforms is not None),
                (PAYLOAD_FORMAT, self.payload_format != defaults.payload_format),
                (SEGMENT_GROUP_KEY, self.segment_group_key != defaults.segment_group_key),
                (AMPLITUDE_USER_PROPERTIES, self.amplitude_user_properties != defaults.amplitude_user_properties),
                (MIXPANEL_ID_MERGE, self.id_merge != defaults.id_merge),
            )
            if differs
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        secret_arn = env.text(MIXPANEL_CREDENTIALS_SECRET_ARN)
        if secret_arn is not None and env.text(TRANSFORM_HASH_KEY) is not None:
            raise ConfigError(
                TRANSFORM_HASH_KEY,
                f'is for local runs; with {MIXPANEL_CREDENTIALS_SECRET_ARN}, put the key in the secret as "hash_key"',
            )
        project_id = env.text(MIXPANEL_PROJECT_ID)
        if project_id is not None and not is_project_id(project_id):
            raise ConfigError(MIXPANEL_PROJECT_ID, f"must be the numeric project id (digits 0-9), got {project_id!r}")
        return cls(
            api_url=_api_url(env),
            credentials=None if secret_arn is not None else _credentials(env),
            credentials_secret_arn=secret_arn,
            project_id=project_id,
            dead_letter_queue_url=env.text(DEAD_LETTER_QUEUE_URL),
            dead_letter_bucket=env.text(DEAD_LETTER_BUCKET),
            batch_max_events=env.integer(BATCH_MAX_EVENTS, MAX_EVENTS_PER_REQUEST, 1, MAX_EVENTS_PER_REQUEST),
            batch_max_bytes=env.integer(BATCH_MAX_BYTES, DEFAULT_MAX_BYTES, 1024, 10 * 1024 * 1024),
            max_concurrent_requests=env.integer(MAX_CONCURRENT_REQUESTS, 8, 1, 64),
            connect_timeout=env.number(CONNECT_TIMEOUT_SECONDS, 3.0, 0.01, 60.0),
            request_timeout=env.number(REQUEST_TIMEOUT_SECONDS, 15.0, 0.01, 900.0),
            probe_timeout=env.number(PROBE_TIMEOUT_SECONDS, 5.0, 0.01, 900.0),
            max_attempts=env.integer(MAX_ATTEMPTS, 6, 1, 100),
            retry_base=env.number(RETRY_BASE_SECONDS, 2.0, 0.0, 600.0),
            retry_max=env.number(RETRY_MAX_SECONDS, 60.0, 0.0, 900.0),
            retry_jitter_min=env.number(RETRY_JITTER_MIN_SECONDS, 1.0, 0.0, 60.0),
            retry_jitter_max=env.number(RETRY_JITTER_MAX_SECONDS, 5.0, 0.0, 60.0),
            deadline_margin_ms=env.integer(DEADLINE_MARGIN_MS, 3000, 0, 600_000),
            profile_batch_max_updates=env.integer(
                PROFILE_BATCH_MAX_UPDATES, MAX_UPDATES_PER_REQUEST, 1, MAX_UPDATES_PER_REQUEST
            ),
            id_merge=env.choice(MIXPANEL_ID_MERGE, (ID_MERGE_SIMPLIFIED, ID_MERGE_ORIGINAL)),
            payload_format=env.choice(PAYLOAD_FORMAT, PAYLOAD_FORMATS),
            transforms=read_rules(env.text(TRANSFORMS)),
            segment_group_key=env.text(SEGMENT_GROUP_KEY) or SEGMENT_DEFAULT_GROUP_KEY,
            amplitude_user_properties=env.choice(AMPLITUDE_USER_PROPERTIES, AMPLITUDE_USER_PROPERTY_CHOICES)
            == "profile",
            kinesis_failed_batches_bucket=_bucket(env, KINESIS_FAILED_BATCHES_BUCKET),
            sqs_retry_base=env.integer(SQS_RETRY_BASE_SECONDS, 30, 1, SQS_MAX_DELAY_SECONDS),
            sqs_retry_max=env.integer(SQS_RETRY_MAX_SECONDS, 1230, 1, SQS_MAX_DELAY_SECONDS),
            sqs_crash_returns=env.integer(SQS_CRASH_RETURNS, 5, 1, 1000),
            source_dead_letter_queue_url=env.text(SOURCE_DEAD_LETTER_QUEUE_URL),
        )


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def required(self, name: str, why: str) -> str:
        value = self.text(name)
        if value is None:
            raise ConfigError(name, f"is not set; {why}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            # int() also reads "４２" or "٤٢"; only ASCII is what a person meant to type here.
            if not raw.isascii():
                raise ValueError(raw)
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"must be a whole number from {low} to {high}, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(name, f"must be a whole number from {low} to {high}, got {value}")
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        """One of `choices` (the first when unset), compared case-insensitively (ASCII only, as for numbers:
        `str.upper()` makes "US" of "uſ" and "IN" of "ın"); a refusal quotes the value as it was given."""
        raw = self.text(name) or choices[0]
        value = raw.lower() if raw.isascii() else raw
        if value not in choices:
            raise ConfigError(name, f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            if not raw.isascii():  # as for integers: float() reads "４.５" too
                raise ValueError(raw)
            value = float(raw)
        except ValueError:
            raise ConfigError(name, f"must be a number from {low:g} to {high:g}, got {raw!r}") from None
        if not low <= value <= high:  # also refuses "nan" (it compares false) and "inf"
            raise ConfigError(name, f"must be a number from {low:g} to {high:g}, got {value:g}")
        return value


def _api_url(env: _Env) -> str:
    """The base URL that `/import?…` is appended to.

    A path is kept as a prefix (`https://proxy.example.com/mixpanel` sends to `…/mixpanel/import`), so a
    proxy or gateway in front of Mixpanel works; a trailing `/import` is dropped. A query, a fragment or
    `user:password@` are refused: the forwarder writes the query and the Authorization header itself.
    """
    # Checked even beside MIXPANEL_API_URL, which it does not pick then: the template always sets it, and a wrong
    # one is a mistake to say, not a value to ignore.
    given = env.text(MIXPANEL_REGION) or "US"
    region = given.upper() if given.isascii() else given  # as in _Env.choice: upper() makes "US" of "uſ"
    if region not in REGION_HOSTS:
        raise ConfigError(MIXPANEL_REGION, f"must be one of {', '.join(REGION_HOSTS)}, got {given!r}")
    url = env.text(MIXPANEL_API_URL)
    if url is None:
        return REGION_HOSTS[region]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - read only for its check: a port that is not a number from 0 to 65535 raises
    except ValueError:  # its message may quote the netloc, password included
        raise ConfigError(MIXPANEL_API_URL, "is not a valid URL: its host or port cannot be read") from None
    shown = _without_userinfo(parts)  # every message below quotes this, never a password
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(MIXPANEL_API_URL, f"must be an https:// URL such as {REGION_HOSTS['US']}, got {shown!r}")
    if "@" in parts.netloc:
        raise ConfigError(
            MIXPANEL_API_URL, f"must not hold credentials (user:password@), got {shown!r}: the forwarder sends its own"
        )
    # Tested on the text: an empty "?" or "#" leaves no query or fragment in `parts`, yet would still be sent.
    if "?" in url or "#" in url:
        raise ConfigError(MIXPANEL_API_URL, f"must have no query (?…) or fragment (#…), got {shown!r}")
    # Plain HTTP is for the embedded sink on loopback only: events and credentials never cross a
    # network unencrypted.
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(MIXPANEL_API_URL, f"must use https:// for a non-loopback host, got {shown!r}")
    return url.rstrip("/").removesuffix("/import")


def _bucket(env: _Env, name: str) -> str | None:
    """An S3 bucket's name (3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at each end)."""
    bucket = env.text(name)
    if bucket is not None and re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket) is None:
        raise ConfigError(name, f"must be an S3 bucket's name (not its ARN or a URL), got {bucket!r}")
    return bucket


def _without_userinfo(parts: SplitResult) -> str:
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _credentials(env: _Env) -> Credentials:
    token = env.text(MIXPANEL_PROJECT_TOKEN)
    username = env.text(MIXPANEL_SERVICE_ACCOUNT_USERNAME)
    hash_key = env.text(TRANSFORM_HASH_KEY)
    if token is not None and username is None:
        return Credentials(username=token, password="", project_id=None, token=token, hash_key=hash_key)
    why = (
        f"set {MIXPANEL_CREDENTIALS_SECRET_ARN}, or a service account ({MIXPANEL_SERVICE_ACCOUNT_USERNAME}, "
        f"{MIXPANEL_SERVICE_ACCOUNT_SECRET}, {MIXPANEL_PROJECT_ID}), or {MIXPANEL_PROJECT_TOKEN}"
    )
    username = env.required(MIXPANEL_SERVICE_ACCOUNT_USERNAME, why)
    secret = env.required(MIXPANEL_SERVICE_ACCOUNT_SECRET, why)
    project_id = env.required(MIXPANEL_PROJECT_ID, "a service account needs the project id it imports into")
    # Beside a service account, the token is for profile updates (they carry it inside; /import does not).
    return Credentials(username=username, password=secret, project_id=project_id, token=token, hash_key=hash_key)
