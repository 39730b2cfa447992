"""What the requests of one invocation did: read by the metrics and the summary line."""

from __future__ import annotations

from collections import Counter

from .timefmt import utc_text


class DeliveryStats:
    """Requests by answer class, retries, bytes, latencies; and profile updates that change their profile again
    if applied twice (`$add`, `$append`) sent again after an answer that did not say whether they were applied.
    Then Mixpanel's availability as the invocation found it (down since when, its probe) and the container's limit of
    `/import` requests in flight (its lowest during the invocation, at the end, requests that waited for it)."""

    __slots__ = (
        "bytes_gzip",
        "bytes_raw",
        "in_flight_limit",
        "in_flight_limit_min",
        "latencies_ms",
        "probes",
        "probes_failed",
        "requests",
        "requests_delayed",
        "resent_not_idempotent",
        "retries",
        "unavailable_since",
    )

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()  # by class: 2xx, 2xxUnconfirmed, 400, …, timeout, connection
        self.retries = 0
        self.bytes_raw = 0
        self.bytes_gzip = 0
        self.latencies_ms: list[float] = []
        self.resent_not_idempotent = 0
        self.unavailable_since: float | None = None  # epoch seconds: Mixpanel was down when the invocation began
        self.probes = 0
        self.probes_failed = 0
        self.in_flight_limit_min = 0
        self.in_flight_limit = 0
        self.requests_delayed = 0

    def copy(self) -> DeliveryStats:
        copied = DeliveryStats()
        copied.requests = Counter(self.requests)
        copied.retries, copied.bytes_raw, copied.bytes_gzip = self.retries, self.bytes_raw, self.bytes_gzip
        copied.latencies_ms = list(self.latencies_ms)
        copied.resent_not_idempotent = self.resent_not_idempotent
        copied.unavailable_since, copied.probes, copied.probes_failed = (
            self.unavailable_since,
            self.probes,
            self.probes_failed,
        )
        copied.in_flight_limit_min, copied.in_flight_limit = self.in_flight_limit_min, self.in_flight_limit
        copied.requests_delayed = self.requests_delayed
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
            "mixpanel_unavailable": int(self.unavailable_since is not None),
            **(self._outage() if self.unavailable_since is not None else {}),
            "in_flight_limit_min": self.in_flight_limit_min,
            "in_flight_limit": self.in_flight_limit,
            "requests_delayed": self.requests_delayed,
        }

    def _outage(self) -> dict[str, object]:
        assert self.unavailable_since is not None
        probe = "failed" if self.probes_failed else "answered" if self.probes else "not sent"
        return {"unavailable_since": utc_text(self.unavailable_since), "probe": probe}
