"""What a cold container imports: logs and metrics are written without Powertools (log.py, emf.py), so a function
with its credentials in the environment imports none of it, at init nor in its first invocation, whatever other
variables it has."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from localdev.sink import MixpanelSink

# A fresh interpreter, as Lambda starts one: the real SQS handler, one invocation, then what it imported.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from localdev.eventgen import lambda_context, sample_event, sqs_event, sqs_record
    from functions.sqs_forwarder.app import lambda_handler
    response = lambda_handler(sqs_event([sqs_record(json.dumps(sample_event(0)))]), lambda_context())
    print(json.dumps([response, sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools"))]))
    """
)


def test_a_first_invocation_with_credentials_in_the_environment_imports_no_powertools() -> None:
    with MixpanelSink() as sink:
        # Lambda's own variables, the sink's account and settings, and one of the user's own (no setting's near miss)
        env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "TZ": ":UTC", **sink.env(), "TEAM": "analytics"}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True, timeout=120
        )
        events = len(sink.events)

    response, imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert (response, events) == ({"batchItemFailures": []}, 1)
    assert imported == []
