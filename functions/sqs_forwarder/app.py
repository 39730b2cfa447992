"""SQS → Mixpanel /import. Returns a partial batch response: only records not imported (or parked) are retried."""

from __future__ import annotations

from typing import Any

from mixpanel_forwarder import runtime
from mixpanel_forwarder.log import logger
from mixpanel_forwarder.sources import sqs


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return runtime.handle(sqs, event, context)
