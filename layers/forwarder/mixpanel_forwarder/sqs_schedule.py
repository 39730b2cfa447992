"""When a reported SQS record comes back, and what its receives say of it. Pure arithmetic, in seconds of SQS's clock.

A record reported for the `n`th time (`ApproximateReceiveCount` n) is hidden for `d(n) = min(base * 2**(n-1), cap)`
plus a jitter in `[0, d(n)/10]`: jitter only adds, so `d(n)` is the least it waits, and the receives a span of time
explains are exact. A record that came back more often than that never got its delay: the function did not answer
for it (it crashed, ran out of memory or time). Lambda's pollers do not slow down for reported records
(ReportBatchItemFailures), so the delay is the function's own doing, through ChangeMessageVisibility.
"""

from __future__ import annotations

import random
from typing import NamedTuple

# SQS hides a message for at most 12 hours from its receive (ChangeMessageVisibility: 0 to 43,200 seconds).
MAX_VISIBILITY_SECONDS = 43_200
# The retention end a reported record must be this many longest delays away from: one delay and the invocation that
# follows it fit before SQS deletes it, so it is parked while it still can be.
RETENTION_DELAYS = 2
MAX_RUN_SECONDS = 900  # Lambda's longest invocation


class QueueFacts(NamedTuple):
    """What the rules need of a source queue (GetQueueAttributes), in seconds, and its own dead-letter queue."""

    retention: int  # MessageRetentionPeriod
    visibility: int  # VisibilityTimeout: how long a message the function never answered for stays hidden
    dead_letter: str | None = None  # the ARN its RedrivePolicy names (deadLetterTargetArn); None: none, or not read


# When the queue's cannot be read: SQS's default retention, and the longest visibility timeout (the earliest parking).
UNREAD = QueueFacts(4 * 24 * 3600, MAX_VISIBILITY_SECONDS)


class Schedule(NamedTuple):
    base: int  # SQS_RETRY_BASE_SECONDS
    cap: int  # SQS_RETRY_MAX_SECONDS

    def delay(self, receives: int) -> int:
        """d(n): the least a record received `receives` times waits before it comes back."""
        exponent = max(receives, 1) - 1
        if exponent >= 64:  # past any cap a setting allows; spares the big integer
            return self.cap
        return min(self.base << exponent, self.cap)

    def timeout(self, receives: int, rng: random.Random) -> int:
        """The visibility timeout to give a record received `receives` times: d(n) and its jitter, whole seconds."""
        delay = self.delay(receives)
        return min(delay + rng.randint(0, delay // 10), MAX_VISIBILITY_SECONDS)

    def span(self, receives: int) -> int:
        """The least time `receives` receives take to pass when each is reported: d(1) + ... + d(receives)."""
        total = 0
        for n in range(1, receives + 1):
            delay = self.delay(n)
            if delay >= self.cap:  # every later delay is the cap
                return total + (receives - n + 1) * self.cap
            total += delay
        return total

    def explained(self, elapsed: float) -> int:
        """The most receives the schedule allows within `elapsed` seconds of the first: 1 + the delays that fit."""
        receives, total = 1, 0
        while True:
            delay = self.delay(receives)
            if delay >= self.cap:
                return receives + max(int((elapsed - total) // self.cap), 0)
            if total + delay > elapsed:
                return receives
            total += delay
            receives += 1

    def receives_to_span(self, seconds: int) -> int:
        """The fewest receives whose delays together last `seconds`: the maxReceiveCount a queue keeping messages that
        long needs, so that SQS's own redrive does not come before its retention ends."""
        receives = 1
        while self.span(receives) < seconds:
            receives += 1
        return receives


def crash_returns(schedule: Schedule, receives: int, first_receive_ms: int, now_ms: float) -> int:
    """How many more times a record came back than the schedule explains since its first receive."""
    return receives - schedule.explained((now_ms - first_receive_ms) / 1000)


def near_retention_end(schedule: Schedule, sent_ms: int, retention_seconds: int, now_ms: float) -> bool:
    """A record sent at `sent_ms`, to be reported now, that could expire before it comes back and is answered for."""
    return now_ms >= sent_ms + (retention_seconds - RETENTION_DELAYS * schedule.cap) * 1000


def near_retention_end_on_return(schedule: Schedule, sent_ms: int, queue: QueueFacts, now_ms: float) -> bool:
    """A record received again that, should the function end without answering for it (so neither hiding nor parking
    it), would come back only after its queue deleted it: after the visibility timeout and the longest run."""
    hidden = queue.visibility + MAX_RUN_SECONDS
    return now_ms >= sent_ms + (queue.retention - hidden - RETENTION_DELAYS * schedule.cap) * 1000


def queue_url(arn: object) -> str | None:
    """The queue URL an SQS ARN names (`https://sqs.<region>.amazonaws.com/<account>/<name>`, the form the SQS
    Developer Guide shows), or None when it is not an SQS queue's ARN."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not all(parts[3:]):
        return None
    partition, region, account, name = parts[1], parts[3], parts[4], parts[5]
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


def is_queue(arn: object, url: str) -> bool:
    """Whether an SQS ARN and a queue URL name the same queue: the same account and name (a URL's last two path
    segments, whatever its host: SQS's own forms differ, an endpoint of another service's too). A dead-letter queue is
    in its source queue's account and region, so the region is not compared."""
    parts = arn.split(":") if isinstance(arn, str) else []
    path = url.rstrip("/").rsplit("/", 2)
    return len(parts) == 6 and len(path) == 3 and bool(parts[5]) and path[1:] == parts[4:6]


def integer(attribute: object) -> int | None:
    """An SQS attribute's number (Lambda gives them as strings), or None."""
    try:
        return int(attribute) if isinstance(attribute, str | int) else None
    except ValueError:
        return None
