"""One invocation, end to end: records → events → batches → destination → park → report.

The Forwarder is built once per container and holds what lives across invocations (the HTTP pool, the
sender threads, the parker, the credentials); each invocation gets its own deadline, ledger and delivery.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from .availability import Availability
from .batching import Batcher
from .credentials import CredentialsSource, credentials_source
from .deadletter import Parker, SqsParker
from .deadline import Deadline, LambdaContext
from .delivery import Delivery
from .destinations import Destination, ImportDestination, ProfileDestination
from .formats import FormatOptions
from .in_flight import InFlightLimit
from .ledger import Ledger
from .messages import MessageRules
from .model import Kind, SourceKind
from .parking import park
from .pipeline import encode_records
from .profiles import token_bytes
from .redelivery import SQS_SOURCE, RedeliveryStats, SqsRedelivery
from .report import batch_item_failures
from .result import Result
from .retry import Backoff
from .settings import Settings
from .sources import Source
from .transforms import Transforms
from .transport import Sender, Urllib3Sender

if TYPE_CHECKING:
    from .objects import Store
    from .sqs_queue import SourceQueue


class Forwarder:
    """Built once per container: the HTTP pool, the worker threads and the parker live across invocations."""

    def __init__(
        self,
        settings: Settings,
        sender: Sender | None = None,
        parker: Parker | None = None,
        credentials: CredentialsSource | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        objects: Store | None = None,
        source_queue: SourceQueue | None = None,
    ) -> None:
        self.settings = settings
        self._sender = sender or Urllib3Sender(settings.max_concurrent_requests, settings.connect_timeout)
        self._credentials = credentials or credentials_source(
            settings.credentials, settings.credentials_secret_arn, settings.project_id
        )
        if parker is None and settings.dead_letter_queue_url:
            parker = SqsParker(settings.dead_letter_queue_url, bucket=settings.dead_letter_bucket)
        self._parker = parker
        if objects is None and settings.kinesis_failed_batches_bucket is not None:
            from .objects import S3Store  # only a stack with a stream reads failed batches: no cold start for others

            objects = S3Store(settings.kinesis_failed_batches_bucket)
        self._objects = objects  # what a record may name: a Kinesis batch Lambda gave up on (sources/kinesis_failures)
        profile_cap = settings.profile_batch_max_updates
        self._destinations: dict[Kind, Destination] = {
            Kind.EVENT: ImportDestination(settings.batch_max_events, settings.batch_max_bytes),
            Kind.USER: ProfileDestination(Kind.USER, profile_cap, settings.batch_max_bytes),
            Kind.GROUP: ProfileDestination(Kind.GROUP, profile_cap, settings.batch_max_bytes),
        }
        events = ThreadPoolExecutor(settings.max_concurrent_requests, thread_name_prefix="mixpanel-send")
        # An ordered destination's requests go one at a time, in the order they were submitted.
        self._executors: dict[Kind, Executor] = {
            kind: ThreadPoolExecutor(1, thread_name_prefix=f"mixpanel-{kind}") if destination.ordered else events
            for kind, destination in self._destinations.items()
        }
        self._in_order: dict[Kind, Executor] | None = None  # an ordered source's (_executors_in_order)
        self._backoff = Backoff(settings, rng)
        # Mixpanel is one service: whether it answers, and how many /import requests it takes at once, are learnt
        # by one invocation and hold for the next ones (and for requests that outlive theirs).
        self._availability = Availability(self._backoff, clock)
        self._in_flight = InFlightLimit(settings.max_concurrent_requests)
        self._clock = clock
        self._bound: tuple[str | None, Transforms] | None = None  # the transforms and the hash key they hash with
        self._mapping_rules = settings.mapping_rules()  # what a message parked as it arrived says mapped it
        # SQS only: crash loops moved on, reported records hidden for their delay (no AWS call until one is needed).
        self._redelivery = SqsRedelivery(settings, source_queue, clock, rng or random.Random())

    def _executors_in_order(self) -> dict[Kind, Executor]:
        """For an ordered source, `/import` requests too go one at a time, in record order: a request for later
        records is sent only once the earlier ones are imported or reported, and once one is reported the later ones
        are not sent at all (they come again with it). Made on the first such invocation."""
        if self._in_order is None:
            events = ThreadPoolExecutor(1, thread_name_prefix="mixpanel-in-order")
            self._in_order = {**self._executors, Kind.EVENT: events}
        return self._in_order

    def _transforms(self, hash_key: str | None) -> Transforms | None:
        """The TRANSFORMS rules bound to the hash key, made again only when the key changes (a rotated secret)."""
        rules = self.settings.transforms
        if rules is None:
            return None
        if self._bound is None or self._bound[0] != hash_key:
            self._bound = (hash_key, Transforms(rules, hash_key))
        return self._bound[1]

    def _reading(self, deadline: Deadline) -> AbstractContextManager[None]:
        """While decoding, the objects a record may name, read within the invocation's time (objects.py)."""
        if self._objects is None:
            return nullcontext()
        from .objects import bound

        return bound(self._objects, deadline.remaining)

    def check_credentials(self) -> None:
        """Reads the credentials (kept for the invocations that follow); ForwarderError when they cannot be had."""
        self._credentials.get()

    def forward(self, source: Source, event: Any, context: LambdaContext | None) -> Result:
        # The cyclic GC would walk every event dict of the invocation again and again as they pile up
        # (~10% of the CPU per event); nothing here makes reference cycles, so it rests until the end.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._forward(source, event, context)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _forward(self, source: Source, event: Any, context: LambdaContext | None) -> Result:
        deadline = Deadline(context, self.settings.deadline_margin_ms)
        kind, records = source.source_records(event)
        ledger = Ledger(len(records))
        ordered = kind in (SourceKind.SQS_FIFO, SourceKind.KINESIS)
        delivery = Delivery(
            self.settings,
            self._destinations,
            self._credentials,
            self._sender,
            self._executors_in_order() if ordered else self._executors,
            self._backoff,
            ledger,
            deadline,
            availability=self._availability,
            in_flight=self._in_flight,
            wait_to_probe=kind is SourceKind.KINESIS,  # Lambda retries a Kinesis batch at once, an SQS record later
            ordered_source=ordered,
        )
        token = delivery.token
        added = token_bytes(token) if token is not None else 0  # each profile update carries it when sent
        batchers = {
            kind: Batcher(each.max_events, each.max_bytes, kind, added if each.token_inside else 0)
            for kind, each in self._destinations.items()
        }
        settings = self.settings
        rules = MessageRules(
            int(self._clock() * 1000),
            delivery.token,
            settings.id_merge,
            settings.payload_format,
            self._transforms(delivery.hash_key),
            FormatOptions(settings.id_merge, settings.segment_group_key, settings.amplitude_user_properties),
        )
        redelivery = self._redelivery if source.NAME == SQS_SOURCE else None
        redelivered = RedeliveryStats()
        skip = (
            redelivery.take_crash_loops(kind, records, ledger, deadline, self._parker, redelivered)
            if redelivery is not None
            else ()
        )
        with self._reading(deadline):
            encode_records(source, records, ledger, batchers, delivery.submit, rules, skip)
        stats = delivery.wait()
        closing = deadline.closing()  # the last AWS calls' (parking what SQS would delete, hiding what is reported)
        expiring = redelivery is not None and redelivery.take_expiring(records, ledger, closing, self._parker)
        if self._parker is not None:  # without one, permanent failures stay pending and are reported
            park(self._parker, records, ledger, closing if expiring else deadline, self._mapping_rules)
        ledger.settle()
        failures = batch_item_failures(kind, records, ledger.records_to_retry())
        if redelivery is not None and failures:
            redelivery.back_off(records, failures, closing, redelivered)
        return Result(source.NAME, kind, len(records), ledger, stats, failures, redelivered)
