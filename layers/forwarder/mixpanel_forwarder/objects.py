"""The S3 objects a record names, read for its decoder: a Kinesis batch Lambda gave up on, which an S3 notification
on the retry queue points at (sources/kinesis_failures.py).

A source's `decode(record)` takes the record alone, so the Forwarder binds what reading needs around decoding: the
one bucket the function reads (KINESIS_FAILED_BATCHES_BUCKET) and the time the invocation has left. An object is read
once per invocation: a record decoded again (an item read exactly, or refused as it arrived) finds it here. A read
that fails (not found, denied, throttled, no time left) raises `SourceUnavailable`, and the record is reported for
retry: the object is still there to be read later. boto3 is imported on the first read only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from . import aws
from .errors import SourceUnavailable

TimeLeft = Callable[[], float]  # seconds the invocation has left


class Store(Protocol):
    """One bucket's objects, read within the time given."""

    bucket: str

    def read(self, key: str, time_left: TimeLeft) -> bytes:
        """The object's bytes; SourceUnavailable when it cannot be read now."""
        ...


class S3Store:
    """A bucket read through a client made on first use; built once per container, so the client outlives the
    invocation."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client

    def read(self, key: str, time_left: TimeLeft) -> bytes:
        def get() -> bytes:
            # The client is made inside the bounded call: on a cold start that is most of the time.
            if self._client is None:
                self._client = aws.client("s3")
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
            return bytes(answer["Body"].read())  # the body is read within the bound too

        try:
            return aws.call_within(time_left(), get)
        except Exception as exc:  # botocore's errors, a timeout, no credentials: the record is read again later
            described = aws.describe(exc)
            why = described["code"] or f"{described['type']}: {described['detail']}"
            raise SourceUnavailable(f"cannot read s3://{self.bucket}/{key} ({why})") from exc


class Objects:
    """A store bound to one invocation's time, and the objects read from it so far."""

    def __init__(self, store: Store, time_left: TimeLeft) -> None:
        self.bucket = store.bucket
        self._store = store
        self._time_left = time_left
        self._read: dict[str, bytes] = {}

    def read(self, key: str) -> bytes:
        data = self._read.get(key)
        if data is None:
            data = self._read[key] = self._store.read(key, self._time_left)
        return data


_current: ContextVar[Objects | None] = ContextVar("objects", default=None)


def current() -> Objects | None:
    """The objects the invocation being decoded may read; None outside one, or without a bucket."""
    return _current.get()


@contextmanager
def bound(store: Store | None, time_left: TimeLeft) -> Iterator[None]:
    """Within the block, `current()` reads from `store` within `time_left` (nothing without a store)."""
    token = _current.set(Objects(store, time_left) if store is not None else None)
    try:
        yield
    finally:
        _current.reset(token)
