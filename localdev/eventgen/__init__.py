"""Factories for real-shaped Lambda invocation events (SQS, Kinesis, and the envelopes inside them), and the
sample files in `events/` built from them. Everything is deterministic: same arguments, same bytes.

Regenerate the samples with `python -m localdev.eventgen [--out events]`.

Modules: `records` (SQS and Kinesis records and events), `failures` (a Kinesis batch Lambda gave up on, as its S3
on-failure destination holds it, and S3's notifications of it), `payloads` (KPL aggregates, CloudWatch Logs documents,
SNS and EventBridge envelopes), `mixpanel` (realistic events), `cdp` (Segment-spec calls: Segment's and
RudderStack's), `amplitude` (Amplitude's export JSON), `context` (a Lambda context), `samples` and `vendors` (the
files in `events/`), `cli`, and `common` (the fixed account, ARNs, start time and ids they all derive from).
"""

from __future__ import annotations

from .amplitude import amplitude_events
from .cdp import SEGMENT_EVENT_SOURCE, anonymous_id, rudderstack_messages, segment_calls
from .cli import main
from .common import ACCOUNT_ID, FIFO_QUEUE_ARN, QUEUE_ARN, REGION, STREAM_ARN, TOPIC_ARN
from .context import LambdaContext, lambda_context
from .failures import failed_batch_key, failed_batch_object, s3_notification, s3_test_event
from .mixpanel import sample_event
from .payloads import KPL_MAGIC, cloudwatch_logs_data, eventbridge_envelope, kpl_aggregate, sns_envelope
from .records import kinesis_event, kinesis_record, sqs_event, sqs_record
from .samples import samples_readme, write_samples

__all__ = [
    "ACCOUNT_ID",
    "FIFO_QUEUE_ARN",
    "KPL_MAGIC",
    "QUEUE_ARN",
    "REGION",
    "SEGMENT_EVENT_SOURCE",
    "STREAM_ARN",
    "TOPIC_ARN",
    "LambdaContext",
    "amplitude_events",
    "anonymous_id",
    "cloudwatch_logs_data",
    "eventbridge_envelope",
    "failed_batch_key",
    "failed_batch_object",
    "kinesis_event",
    "kinesis_record",
    "kpl_aggregate",
    "lambda_context",
    "main",
    "rudderstack_messages",
    "s3_notification",
    "s3_test_event",
    "sample_event",
    "samples_readme",
    "segment_calls",
    "sns_envelope",
    "sqs_event",
    "sqs_record",
    "write_samples",
]
