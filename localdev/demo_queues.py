"""The demo's queues, as the deployed stack has them, in moto's server: the parked-events queue the functions park to
(DEAD_LETTER_QUEUE_URL, read back afterwards), and a source queue whose messages reach the SQS function as Lambda's
poller delivers them, so that a record the function reports is hidden there for its delay, for real."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from localdev.eventgen import sqs_event, sqs_record
from localdev.moto_server import AWS_LOCAL_ENV, moto_server_command, started
from mixpanel_forwarder.parked import ParkedReader, failures

# The template's: a parked document up to 1 MiB fits one message, and both keep what they hold 14 days.
PARKED_ATTRIBUTES = {"MaximumMessageSize": "1048576", "MessageRetentionPeriod": "1209600"}
SOURCE_ATTRIBUTES = {"VisibilityTimeout": "660", "MessageRetentionPeriod": "1209600"}


@dataclass(frozen=True)
class LocalQueues:
    url: str  # moto's
    sqs: Any  # a boto3 SQS client of moto's
    parked_url: str
    source_url: str
    source_arn: str

    def env(self) -> dict[str, str]:
        """What a deployed function has: AWS (moto's, with its dummy credentials) and the parked-events queue."""
        return {**AWS_LOCAL_ENV, "AWS_ENDPOINT_URL": self.url, "DEAD_LETTER_QUEUE_URL": self.parked_url}

    def delivered(self, event: dict[str, Any]) -> dict[str, Any]:
        """`event`'s messages sent to the source queue and received from it: an event as Lambda's poller makes one,
        each record with its receipt handle and the queue's own attributes."""
        for record in event["Records"]:
            self.sqs.send_message(QueueUrl=self.source_url, MessageBody=record["body"])
        received: list[dict[str, Any]] = []
        while len(received) < len(event["Records"]):
            answer = self.sqs.receive_message(
                QueueUrl=self.source_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            )
            received += answer.get("Messages", [])
        records = []
        for message in received:
            attributes = message["Attributes"]
            record = sqs_record(
                message["Body"],
                message_id=message["MessageId"],
                queue_arn=self.source_arn,
                sent_timestamp_ms=int(attributes["SentTimestamp"]),
            )
            record["receiptHandle"] = message["ReceiptHandle"]
            record["attributes"]["ApproximateReceiveCount"] = attributes["ApproximateReceiveCount"]
            records.append(record)
        return sqs_event(records)

    def hidden(self) -> int:
        """Messages of the source queue received and not yet visible again."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.source_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def take_parked(self) -> list[dict[str, Any]]:
        """The parked-events queue's messages, removed, as the failures they hold (one per event, profile update or
        record parked)."""
        reader = ParkedReader()
        found: list[dict[str, Any]] = []
        while messages := self.sqs.receive_message(QueueUrl=self.parked_url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                document = reader.read(message["Body"])
                found += failures(document) if document is not None else []
                self.sqs.delete_message(QueueUrl=self.parked_url, ReceiptHandle=message["ReceiptHandle"])
        return found


def units(parked: list[dict[str, Any]]) -> str:
    """How many of each unit the parked failures are: "5 events, 1 profile update, 2 records"."""
    counted = Counter("record" if "record" in one else "profile update" if "kind" in one else "event" for one in parked)
    return ", ".join(f"{count} {unit}{'' if count == 1 else 's'}" for unit, count in sorted(counted.items()))


def example(parked: list[dict[str, Any]]) -> str:
    """One parked failure (an event's, if any) as the queue holds it, its payload cut short."""
    failure = next((each for each in parked if "event" in each and "kind" not in each), parked[0])
    shown = {key: value for key, value in failure.items() if key in ("reason", "field", "kind", "source")}
    payload = "record" if "record" in failure else "event"
    return json.dumps({**shown, payload: "…"}, ensure_ascii=False)


@contextmanager
def local_queues() -> Iterator[LocalQueues]:
    """moto's server, started for the demo and stopped after it, holding the two queues."""
    with started(moto_server_command()) as url:
        sqs = boto3.client(
            "sqs",
            endpoint_url=url,
            region_name=AWS_LOCAL_ENV["AWS_REGION"],
            aws_access_key_id=AWS_LOCAL_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        parked = sqs.create_queue(QueueName="forwarder-parked-events", Attributes=PARKED_ATTRIBUTES)["QueueUrl"]
        source = sqs.create_queue(QueueName="forwarder-source", Attributes=SOURCE_ATTRIBUTES)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield LocalQueues(url, sqs, parked, source, arn)
