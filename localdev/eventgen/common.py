"""What every factory shares: the fixed account, region and ARNs, the start time every generated id and timestamp
derives from, deterministic ids, and the encodings that keep the bytes stable from run to run."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:product-events"
FIFO_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:product-events.fifo"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/product-events"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:product-events"

# 2025-11-24T16:00:00Z: every generated id and timestamp is derived from this and an index.
T0_S = 1_764_000_000
T0_MS = T0_S * 1000
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "eventgen.localdev.example.com")


def fixed_uuid(kind: str, index: int) -> str:
    """A uuid-shaped id (36 characters) fixed by `kind` and `index`."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{index}"))


def iso_ms(epoch_ms: int) -> str:
    return f"{datetime.fromtimestamp(epoch_ms // 1000, UTC):%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def iso_s(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def gzip_stable(data: bytes) -> bytes:
    # mtime=0 keeps the bytes stable from run to run.
    return gzip.compress(data, compresslevel=6, mtime=0)
