"""Behaviour the end-to-end harness brought to light, pinned down as documented (docs/delivery.md)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from functions.sqs_forwarder.app import lambda_handler as sqs_handler
from localdev.eventgen import lambda_context, sqs_event, sqs_record
from localdev.sink import MixpanelSink
from tests.e2e.conftest import Clients, forwarder_env
from tests.e2e.queues import receive_everything

pytestmark = pytest.mark.e2e


def test_an_event_mixpanel_refuses_is_parked_as_it_was_sent(
    clients: Clients, sink: MixpanelSink, quiet_logs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    parked_url = clients.sqs.create_queue(QueueName="e2e-findings-parked")["QueueUrl"]
    for name, value in {**forwarder_env(sink), "DEAD_LETTER_QUEUE_URL": parked_url}.items():
        monkeypatch.setenv(name, value)
    arrived: dict[str, Any] = {
        "event": "Signed Up",
        "properties": {"distinct_id": "user-1", "time": int(time.time()) - 60, "plan": "free"},
    }
    sink.reject_next()  # strict mode refuses the first event of the next request

    response = sqs_handler(sqs_event([sqs_record(json.dumps(arrived))]), lambda_context(remaining_ms=30_000))

    assert response == {"batchItemFailures": []}
    [message] = receive_everything(clients.sqs, parked_url, delete=True)
    document = json.loads(message["Body"])
    assert document["field"] == "properties.forced"
    # As Mixpanel saw it: time in milliseconds, the $insert_id derived from its SQS coordinates, ip = 0.
    # A replay therefore sends exactly the same event, and Mixpanel deduplicates it if it ever got in.
    sent = document["event"]
    assert sent["event"] == arrived["event"]
    assert sent["properties"]["time"] == arrived["properties"]["time"] * 1000
    assert sent["properties"]["ip"] == 0
    assert len(sent["properties"]["$insert_id"]) == 32
    assert {k: v for k, v in sent["properties"].items() if k not in ("time", "ip", "$insert_id")} == {
        k: v for k, v in arrived["properties"].items() if k != "time"
    }
