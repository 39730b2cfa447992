"""What the requests of one invocation did: read by the metrics and the summary line."""

from __future__ import annotations

from collections import Counter


class DeliveryStats:
    """Requests by answer class, retries, bytes, latencies; and profile updates that change their profile again
    if applied twice (`$add`, `$append`) sent again after an answer that did not say whether they were applied."""

    __slots__ = ("bytes_gzip", "bytes_raw", "latencies_ms", "requests", "resent_not_idempotent", "retries")

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()  # by class: 2xx, 2xxUnconfirmed, 400, …, timeout, connection
        self.retries = 0
        self.bytes_raw = 0
        self.bytes_gzip = 0
        self.latencies_ms: list[float] = []
        self.resent_not_idempotent = 0

    def copy(self) -> DeliveryStats:
        copied = DeliveryStats()
        copied.requests = Counter(self.requests)
        copied.retries, copied.bytes_raw, copied.bytes_gzip = self.retries, self.bytes_raw, self.bytes_gzip
        copied.latencies_ms = list(self.latencies_ms)
        copied.resent_not_idempotent = self.resent_not_idempotent
        return copied

    @property
    def latency_ms_max(self) -> float:
        return max(self.latencies_ms) if self.latencies_ms else 0.0

    def summary(self) -> dict[str, object]:
        """For the log line: everything but the latencies one by one."""
        return {
            "requests": dict(self.requests),
            "retries": self.retries,
            "bytes_raw": self.bytes_raw,
            "bytes_gzip": self.bytes_gzip,
            "latency_ms_max": round(self.latency_ms_max, 1),
            "resent_not_idempotent": self.resent_not_idempotent,
        }
