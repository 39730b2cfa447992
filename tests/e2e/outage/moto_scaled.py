"""moto's server in this process, on the scaled clock (clock.py), with SQS's own semantics where moto 5.2.5 departs
from them in ways an outage of hours meets.

The clock: moto reads time through `moto.core.utils.utcnow`, `unix_time` and `unix_time_millis`, which its models
import by name; each of those names, in every moto module loaded, is pointed at the scaled clock. Within one request
the time is read once (a request is answered at one instant, and moto's SQS reads the time per message, so a queue
of thousands costs thousands of clock reads per ReceiveMessage otherwise). `check_clock` shows that visibility,
retention, send, first-receive and Kinesis arrival times all follow it.

SQS, where moto differs from what AWS documents (each fix is a test-side patch of moto, undone on stop):
- FIFO order: moto frees a message group only when it meets the group's last in-flight message again, so it hands a
  group back last-first after a visibility timeout; SQS keeps the group's order. Before each receive, every visible
  message of a FIFO queue leaves the in-flight set, so the group is free (or still held) as a whole.
- Retention: moto keeps an expired message in the queue, counted, invisible after each receive that meets it (and
  stops that receive there); SQS deletes it. Expired messages are deleted before each receive, and listed in
  `MotoScaled.expired` (a lost message, if it never landed elsewhere). The check reads the queue's retention once,
  not all its attributes per message.
- ChangeMessageVisibility: moto counts the 12-hour limit from when the message was sent, SQS from the receive
  ("The maximum visibility timeout is 12 hours from the time that Amazon SQS receives the ReceiveMessage request",
  SQS Developer Guide, visibility timeout): a message older than 12 h could never be backed off.
- Concurrency: moto's backends are not thread-safe; requests are answered one at a time, as atomic operations.
- Speed: moto finds a message by receipt handle by rebuilding every message's list of handles; a backlog of
  thousands made each DeleteMessage and ChangeMessageVisibility cost milliseconds. Handles are indexed as they are
  handed out.
"""

from __future__ import annotations

import datetime
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import moto.core.utils
import moto.kinesis.models
import moto.s3.models
import moto.s3.notifications
import moto.sqs.models
from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from werkzeug.serving import make_server

from tests.e2e.outage.clock import ScaledClock

MAX_VISIBILITY_S = 43_200
_TIME_NAMES = ("utcnow", "unix_time", "unix_time_millis")


class _Now:
    """The scaled time, read once per request while one is answered."""

    def __init__(self, clock: ScaledClock) -> None:
        self.clock = clock
        self.frozen: float | None = None

    def seconds(self) -> float:
        return self.frozen if self.frozen is not None else self.clock.now()


@dataclass
class MotoScaled:
    """The running server: its URL, its clock, and the SQS messages deleted by retention (queue name, message id)."""

    url: str
    clock: ScaledClock
    expired: list[tuple[str, str]] = field(default_factory=list)


class _Serial:
    """The WSGI app, one request at a time, each at one instant of the scaled clock."""

    def __init__(self, app: Any, now: _Now) -> None:
        self._app = app
        self._now = now
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            self._now.frozen = self._now.clock.now()
            try:
                return list(self._app(environ, start_response))
            finally:
                self._now.frozen = None


class _Quiet(MotoRequestHandler):
    """No line per request on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _Patches:
    """Attributes set on objects, put back in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def undo(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()


def _time_functions(now: _Now) -> dict[str, Callable[..., Any]]:
    original_unix_time = moto.core.utils.unix_time

    def utcnow() -> datetime.datetime:
        return datetime.datetime.fromtimestamp(now.seconds(), datetime.UTC).replace(tzinfo=None)

    def unix_time(dt: datetime.datetime | None = None) -> float:
        return now.seconds() if dt is None else float(original_unix_time(dt))

    def unix_time_millis(dt: datetime.datetime | None = None) -> float:
        return unix_time(dt) * 1000.0

    return {"utcnow": utcnow, "unix_time": unix_time, "unix_time_millis": unix_time_millis}


def _patch_time(patches: _Patches, now: _Now) -> None:
    """Every moto module's own name for each time function, pointed at the scaled one."""
    originals = {name: getattr(moto.core.utils, name) for name in _TIME_NAMES}
    scaled = _time_functions(now)
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "moto" or module_name.startswith("moto.")):
            continue
        for name, original in originals.items():
            if getattr(module, name, None) is original:
                patches.set(module, name, scaled[name])


def _patch_sqs(patches: _Patches, server: MotoScaled) -> None:
    backend_class = moto.sqs.models.SQSBackend
    message_class = moto.sqs.models.Message
    queue_class = moto.sqs.models.Queue
    receive = backend_class.receive_message
    mark_received = message_class.mark_received
    unix_time = moto.sqs.models.unix_time  # the scaled one: _patch_time ran first
    by_handle: dict[str, Any] = {}  # every receipt handle handed out -> its message

    def held(queue: Any, receipt_handle: str) -> Any:
        message = by_handle.get(receipt_handle)
        if message is None or message not in queue._messages:
            raise ReceiptHandleIsInvalid
        return message

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        now = unix_time()
        retention = int(queue.message_retention_period)
        expired = [m for m in queue._messages if m.sent_timestamp / 1000 + retention <= now]
        if expired:
            gone = set(expired)
            queue._messages = [m for m in queue._messages if m not in gone]
            for message in expired:
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(message.all_receipt_handles)
                server.expired.append((queue.name, message.id))
        if queue.fifo_queue:
            for message in [m for m in queue.pending_messages if m.visible]:
                queue.pending_messages.discard(message)
        return receive(self, queue_name, *args, **kwargs)

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(message.sent_timestamp / 1000 + retention > unix_time())

    def received(self: Any, visibility_timeout: int | None = None) -> None:
        mark_received(self, visibility_timeout)
        self.last_received_s = unix_time()
        by_handle[self.receipt_handle] = self

    def change_message_visibility(self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        queue = self.get_queue(queue_name)
        message = held(queue, receipt_handle)
        if unix_time() + int(visibility_timeout) - message.last_received_s > MAX_VISIBILITY_S:
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible:
            queue.pending_messages.discard(message)

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # deleted already: SQS answers success again
        message = held(self, receipt_handle)
        self._messages.remove(message)
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)

    patches.set(backend_class, "receive_message", receive_message)
    patches.set(backend_class, "is_message_valid_based_on_retention_period", retained)
    patches.set(backend_class, "change_message_visibility", change_message_visibility)
    patches.set(message_class, "mark_received", received)
    patches.set(queue_class, "delete_message", delete_message)


@contextmanager
def scaled_moto(clock: ScaledClock) -> Iterator[MotoScaled]:
    """moto's server on loopback, on `clock`, with the SQS fixes above; everything put back on exit."""
    now = _Now(clock)
    patches = _Patches()
    server = None
    try:
        _patch_time(patches, now)
        running = MotoScaled("", clock)
        _patch_sqs(patches, running)
        app = _Serial(DomainDispatcherApplication(create_backend_app), now)
        server = make_server("127.0.0.1", 0, app, True, request_handler=_Quiet)
        running.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, name="moto-scaled", daemon=True)
        thread.start()
        yield running
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        patches.undo()


def check_clock(running: MotoScaled, sqs: Any, kinesis: Any, queue_url: str, stream: str) -> dict[str, float]:
    """How far each moto time is from the scaled clock, in scaled seconds (each should be ~0): sending, first and
    latest receive, visibility and retention expiry, and a Kinesis record's arrival. Leaves the queue empty."""
    clock = running.clock
    sqs.send_message(QueueUrl=queue_url, MessageBody="clock")
    sent_at = clock.now()
    (message,) = sqs.receive_message(QueueUrl=queue_url, MessageSystemAttributeNames=["All"], VisibilityTimeout=60)[
        "Messages"
    ]
    received_at = clock.now()
    attributes = message["Attributes"]
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=30)
    changed_at = clock.now()
    visible_again = _first_true(lambda: bool(sqs.receive_message(QueueUrl=queue_url).get("Messages")), clock)
    kinesis.put_record(StreamName=stream, Data=b"clock", PartitionKey="clock")
    put_at = clock.now()
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    arrival = max(record["ApproximateArrivalTimestamp"].timestamp() for record in records)
    return {
        "SentTimestamp": int(attributes["SentTimestamp"]) / 1000 - sent_at,
        "ApproximateFirstReceiveTimestamp": int(attributes["ApproximateFirstReceiveTimestamp"]) / 1000 - received_at,
        "visible after ChangeMessageVisibility 30 s": visible_again - changed_at - 30,
        "ApproximateArrivalTimestamp": arrival - put_at,
    }


def _first_true(condition: Callable[[], bool], clock: ScaledClock) -> float:
    stop = threading.Event()
    while not condition():
        stop.wait(clock.real(0.5))
    return clock.now()


def names(items: Iterable[tuple[str, str]]) -> set[str]:
    return {message_id for _, message_id in items}
