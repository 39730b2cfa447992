"""The forwarder's structured JSON logger (Powertools); the level comes from POWERTOOLS_LOG_LEVEL."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "mixpanel-forwarder")
