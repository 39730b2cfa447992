"""moto's server with IAM enforced, deciding as AWS does for the calls the forwarder makes, and writing down every
decision: `python -m tests.moto_iam --decisions FILE -H 127.0.0.1 -p PORT` (moto_server's own arguments follow).

It starts as moto does, allowing everything, so a test can create its resources, roles and users; POST "0" to
/moto-api/reset-auth turns enforcement on (`tests.moto.enforce_iam`). From then on every request is authenticated
and authorized by moto's access control against its signer's policies, and each decision is appended to FILE as one
JSON line `{"principal", "api", "action", "resource", "denied"}` (`denied`: moto's error, or null) before the answer
is sent: a caller that recovers from a denial (a fallback) cannot hide it.

Two corrections, where moto's evaluation departs from AWS's for these calls:
- SQS's batch APIs are authorized by their single action's permission (SendMessageBatch by sqs:SendMessage, and so
  on; https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api-actions.html);
  moto asks for an sqs:SendMessageBatch no policy can grant.
- Secrets Manager authorizes a secret's actions on the secret's ARN; moto evaluates them against "*", which a
  statement naming the secret (as the template's do) never matches.
moto is pinned (requirements-dev.txt): what this replaces is moto's internals, checked against 5.2.5. The server the
other tests share (tests/moto.py's, or the one .ci/run starts) never enforces IAM.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from moto import settings
from moto.core.responses import ActionAuthenticatorMixin
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.server import main as moto_main

# The IAM action each batch API is authorized by, where it is not the API's own name.
AUTHORIZED_AS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
_lock = threading.Lock()
_decisions: Any = None  # the open FILE


def _record(decision: dict[str, Any]) -> None:
    with _lock:
        _decisions.write(json.dumps(decision) + "\n")
        _decisions.flush()


def _authorize_as_aws(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        _authorize(self, iam_request_cls, resource)  # not enforcing yet: moto counts the request
        return
    made: list[Any] = []

    class AsAws(iam_request_cls):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)  # raises for an unknown access key: `made` stays empty
            self._action = AUTHORIZED_AS.get(self._action, self._action)
            made.append(self)

    decision = {"principal": None, "api": _api(self), "action": None, "resource": resource, "denied": None}
    try:
        _authorize(self, AsAws, resource)
    except Exception as exc:
        decision["denied"] = type(exc).__name__
        raise
    finally:
        if made:
            decision.update(principal=made[0]._access_key.arn, action=made[0]._action)
        _record(decision)


def _api(response: Any) -> str:
    try:
        return f"{response.service_name}:{response._get_action()}"
    except Exception:  # a REST API moto routes otherwise: its service is enough to say where it went
        return f"{response.service_name}:?"


def _secret_arn(self: SecretsManagerResponse) -> str:
    secret_id = str(self._get_param("SecretId") or "")
    try:
        return str(self.backend.describe_secret(secret_id).arn)
    except Exception:  # no such secret: AWS authorizes against the ARN asked for, moto answers not found after
        return secret_id if secret_id.startswith("arn:") else "*"


def main(argv: list[str]) -> None:
    global _decisions
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", required=True, help="file each authorization decision is appended to")
    ours, moto_args = parser.parse_known_args(argv)
    _decisions = open(ours.decisions, "a", encoding="utf-8")  # noqa: SIM115 - open for the server's life
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize_as_aws
    SecretsManagerResponse._determine_resource = _secret_arn
    moto_main(moto_args)


if __name__ == "__main__":
    main(sys.argv[1:])
