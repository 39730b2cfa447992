"""Kinesis → Mixpanel /import. Returns a partial batch response: Lambda resumes from the lowest reported record."""

from __future__ import annotations

from typing import Any

from mixpanel_forwarder import runtime
from mixpanel_forwarder.log import logger
from mixpanel_forwarder.sources import kinesis


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return runtime.handle(kinesis, event, context)
