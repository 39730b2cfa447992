"""What the Lambda Invoke API answers, as Lambda (and `sam local start-lambda`) shape it: the function's response
with Lambda's headers, a function error or timeout flagged `X-Amz-Function-Error: Unhandled`, and the service's
own errors (no such function, a payload that is not JSON, ...) as `x-amzn-ErrorType` with a JSON message.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from .process import TIMED_OUT, Outcome

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's limit for a synchronous invocation's request
LOG_TAIL_BYTES = 4096  # LogType=Tail: the last 4 KB of the invocation's log
ACCOUNT = "012345678912"  # the account in the ARN the emulator gives the context
REGION = "us-east-1"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def function_reply(outcome: Outcome, log: list[str] | None = None) -> Reply:
    """A 200 carrying what the function returned, or Lambda's error document for a failed or timed-out one."""
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-RequestId": outcome.request_id,
    }
    body = outcome.body
    if outcome.timed_out:
        # The emulator answers only "Task timed out after N.NN seconds"; Lambda answers with this document
        # (errorType Sandbox.Timedout on today's runtimes) and flags it as an unhandled function error.
        match = TIMED_OUT.fullmatch(body)
        seconds = match.group(1).decode() if match else "?"
        message = f"RequestId: {outcome.request_id} Error: Task timed out after {seconds} seconds"
        body = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
    if outcome.timed_out or outcome.function_error:
        headers["X-Amz-Function-Error"] = "Unhandled"
    if log is not None:
        tail = "".join(f"{line}\n" for line in log).encode()[-LOG_TAIL_BYTES:]
        headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
    return Reply(200, body, headers)


def service_error(error_type: str, status: int, message: str) -> Reply:
    """One of Lambda's own errors; SDKs raise it as `error_type` (boto3: client.exceptions.<error_type>)."""
    body = json.dumps({"Type": "User", "Message": message}).encode()
    return Reply(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": error_type})


def function_not_found(name: str) -> Reply:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return service_error("ResourceNotFoundException", 404, f"Function not found: {arn}")


def payload_problem(payload: bytes) -> str | None:
    """What keeps `payload` from being a JSON document Lambda would pass on ("is not JSON (…)", "is nested too
    deeply …"), or None. Python's parser raises RecursionError, which is no ValueError, for the second; and takes
    NaN and Infinity, which JSON (and Lambda) does not."""
    try:
        json.loads(payload, parse_constant=_not_json)
    except ValueError as exc:
        return f"is not JSON ({exc})"
    except RecursionError:
        return "is nested too deeply (arrays or objects within each other) for a JSON parser"
    return None


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is no JSON value")


def payload_not_json(problem: str) -> Reply:
    """Lambda's answer to a payload it cannot parse: `aws lambda invoke` shows "An error occurred
    (InvalidRequestContentException) when calling the Invoke operation: Could not parse request body into json: …"."""
    return service_error(
        "InvalidRequestContentException", 400, f"Could not parse request body into json: the payload {problem}"
    )


def payload_too_large(size: int) -> Reply:
    message = f"{size} byte payload is too large for the RequestResponse invocation type (limit {MAX_PAYLOAD_BYTES})"
    return service_error("RequestTooLargeException", 413, message)
