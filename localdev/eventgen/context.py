"""A stand-in for the Lambda runtime's context object, whose remaining time counts down in real time."""

from __future__ import annotations

import time
import uuid

from .common import ACCOUNT_ID, REGION


class LambdaContext:
    """Stand-in for the runtime's context object: the attributes Powertools' Logger and the forwarder read."""

    def __init__(self, *, remaining_ms: int, function_name: str) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2025/11/24/[$LATEST]{uuid.UUID(self.aws_request_id).hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the deadline, counting down in real time; never negative."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_context(*, remaining_ms: int = 60_000, function_name: str = "mixpanel-forwarder") -> LambdaContext:
    """A context whose remaining time counts down from `remaining_ms`, starting now."""
    return LambdaContext(remaining_ms=remaining_ms, function_name=function_name)
