"""SQS → Mixpanel /import. Returns a partial batch response: only records not imported (or parked) are retried."""

from __future__ import annotations

from mixpanel_forwarder import runtime
from mixpanel_forwarder.sources import sqs

lambda_handler = runtime.lambda_handler_for(sqs)
