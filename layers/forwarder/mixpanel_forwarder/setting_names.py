"""The names of the forwarder's settings, and the near misses among a function's variables: a setting misspelt
(`MIXPANEL_REGOIN`) is otherwise only a variable nobody reads, and its setting silently keeps its default.

The local tools warn about them in an --env-vars file (localdev/emulator/environment.py); the function logs a
warning at start (runtime.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from .credentials import MIXPANEL_CREDENTIALS_SECRET_ARN, MIXPANEL_PROJECT_ID
from .settings import (
    AMPLITUDE_USER_PROPERTIES,
    BATCH_MAX_BYTES,
    BATCH_MAX_EVENTS,
    CONNECT_TIMEOUT_SECONDS,
    DEAD_LETTER_BUCKET,
    DEAD_LETTER_QUEUE_URL,
    DEADLINE_MARGIN_MS,
    KINESIS_FAILED_BATCHES_BUCKET,
    MAX_ATTEMPTS,
    MAX_CONCURRENT_REQUESTS,
    MIXPANEL_API_URL,
    MIXPANEL_ID_MERGE,
    MIXPANEL_PROJECT_TOKEN,
    MIXPANEL_REGION,
    MIXPANEL_SERVICE_ACCOUNT_SECRET,
    MIXPANEL_SERVICE_ACCOUNT_USERNAME,
    PAYLOAD_FORMAT,
    PROBE_TIMEOUT_SECONDS,
    PROFILE_BATCH_MAX_UPDATES,
    REQUEST_TIMEOUT_SECONDS,
    RETRY_BASE_SECONDS,
    RETRY_JITTER_MAX_SECONDS,
    RETRY_JITTER_MIN_SECONDS,
    RETRY_MAX_SECONDS,
    SEGMENT_GROUP_KEY,
    SOURCE_DEAD_LETTER_QUEUE_URL,
    SQS_CRASH_RETURNS,
    SQS_RETRY_BASE_SECONDS,
    SQS_RETRY_MAX_SECONDS,
    TRACING_ENABLED,
)
from .transform_rules import TRANSFORM_HASH_KEY, TRANSFORMS

# Every variable the forwarder reads: its own, and Powertools' that docs/configuration.md lists or the template sets.
KNOWN_SETTINGS = frozenset(
    {
        MIXPANEL_API_URL,
        MIXPANEL_REGION,
        MIXPANEL_SERVICE_ACCOUNT_USERNAME,
        MIXPANEL_SERVICE_ACCOUNT_SECRET,
        MIXPANEL_PROJECT_TOKEN,
        MIXPANEL_PROJECT_ID,
        MIXPANEL_CREDENTIALS_SECRET_ARN,
        DEAD_LETTER_QUEUE_URL,
        DEAD_LETTER_BUCKET,
        KINESIS_FAILED_BATCHES_BUCKET,
        BATCH_MAX_EVENTS,
        BATCH_MAX_BYTES,
        MAX_CONCURRENT_REQUESTS,
        CONNECT_TIMEOUT_SECONDS,
        REQUEST_TIMEOUT_SECONDS,
        PROBE_TIMEOUT_SECONDS,
        MAX_ATTEMPTS,
        RETRY_BASE_SECONDS,
        RETRY_MAX_SECONDS,
        RETRY_JITTER_MIN_SECONDS,
        RETRY_JITTER_MAX_SECONDS,
        DEADLINE_MARGIN_MS,
        PROFILE_BATCH_MAX_UPDATES,
        MIXPANEL_ID_MERGE,
        PAYLOAD_FORMAT,
        SEGMENT_GROUP_KEY,
        AMPLITUDE_USER_PROPERTIES,
        TRANSFORMS,
        TRANSFORM_HASH_KEY,
        SQS_RETRY_BASE_SECONDS,
        SQS_RETRY_MAX_SECONDS,
        SQS_CRASH_RETURNS,
        SOURCE_DEAD_LETTER_QUEUE_URL,
        TRACING_ENABLED,
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_DISABLED",
    }
)
# Lambda's own variables, never a setting's typo: the reserved ones (AWS_*, LAMBDA_*, _HANDLER, _X_AMZN_TRACE_ID, TZ)
# and those it sets unreserved, from "Defined runtime environment variables" in Lambda's guide; and bash's PWD and
# SHLVL, there in every deployed function: the Python runtime's /var/runtime/bootstrap is a bash script (its text:
# https://dingxiong.github.io/posts/aws-lambda), and without them here each cold start imported difflib for them.
_LAMBDA_PREFIXES = ("AWS_", "LAMBDA_", "_")
_LAMBDA_OWN = frozenset({"TZ", "LANG", "PATH", "LD_LIBRARY_PATH", "NODE_PATH", "PYTHONPATH", "PWD", "SHLVL"})
# difflib's ratio from which a name is taken for a setting misspelt: MIXPANEL_REGOIN is 0.93 from MIXPANEL_REGION,
# TRANSFORM 0.95 from TRANSFORMS; AWS_ENDPOINT_URL is 0.50 from MIXPANEL_API_URL, MIXPANEL_TOKEN 0.78 from
# MIXPANEL_PROJECT_TOKEN.
CLOSE_ENOUGH = 0.85


def misspelt_settings(names: Iterable[str]) -> list[tuple[str, str]]:
    """(name, the setting it is nearly) for each name that is no setting of the forwarder but close to one: a typo
    that would otherwise leave that setting at its default without a word.

    Costs one set look-up per name where every name is a setting or Lambda's own (a deployed function): difflib is
    imported only when some other name is there, and Powertools' list of its variables only for a POWERTOOLS_ near
    miss. That list is in Powertools' package, whose __init__ costs ~15 ms that logs and metrics no longer pay (log.py,
    emf.py): read for any variable of the user's own, it would put that back on every first invocation.
    """
    others = [name for name in names if name not in KNOWN_SETTINGS and not _lambdas(name)]
    if not others:
        return []
    import difflib

    found = []
    for name in others:
        closest = difflib.get_close_matches(name.upper(), KNOWN_SETTINGS, n=1, cutoff=CLOSE_ENOUGH)
        if closest and not _powertools_own(name):
            found.append((name, closest[0]))
    return found


def _powertools_own(name: str) -> bool:
    """One of Powertools' variables (POWERTOOLS_TRACE_DISABLED is 0.88 from POWERTOOLS_METRICS_DISABLED): no typo.
    Its others are Lambda's (AWS_*, _X_AMZN_TRACE_ID) or LOG_LEVEL, near no setting."""
    if not name.startswith("POWERTOOLS_"):
        return False
    from aws_lambda_powertools.shared import constants

    return name in {value for key, value in vars(constants).items() if key.endswith("_ENV")}


def _lambdas(name: str) -> bool:
    return name.startswith(_LAMBDA_PREFIXES) or name in _LAMBDA_OWN
