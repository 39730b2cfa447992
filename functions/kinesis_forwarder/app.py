"""Kinesis → Mixpanel /import. Returns a partial batch response: Lambda resumes from the lowest reported record."""

from __future__ import annotations

from mixpanel_forwarder import runtime
from mixpanel_forwarder.sources import kinesis

lambda_handler = runtime.lambda_handler_for(kinesis)
