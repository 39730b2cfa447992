"""What a run sends: about N messages over the three sources, in every payload shape, a share of them in a vendor's
format (vendors.py) in the shapes where such messages arrive, and the outsized messages each source can hold."""

from __future__ import annotations

import random

from tests.e2e.plan import Plan
from tests.e2e.producers import FIFO_SHAPES, KINESIS_SHAPES, SQS_SHAPES, Producer

# Records of one vendor's messages, by source, so that about a sixth of the messages are Segment's or Amplitude's:
# one (an SQS message, a Kinesis record, Segment's EventBridge events) or NDJSON (Firehose, Amplitude's stream).
VENDOR_RECORDS = {"sqs": 0.18, "sqs-fifo": 0.22, "kinesis": 0.25}
VENDOR_SHAPES = {
    "sqs": ("object", "ndjson", "eventbridge"),
    "sqs-fifo": ("object", "ndjson"),
    "kinesis": ("plain", "ndjson"),
}
VENDORS = ("segment", "amplitude")


def build_plan(
    total: int,
    *,
    tag: str,
    seed: int,
    now_s: int,
    sqs_max_message_bytes: int,
    poison_rate: float = 0.05,
    huge_events: int = 1,
    shares: tuple[float, float] = (0.5, 0.15),
) -> Plan:
    """About `total` messages: `shares` of them to the standard and FIFO queues, the rest to the stream, shapes
    drawn uniformly per record, some records a vendor's (VENDOR_RECORDS); plus, `huge_events` times, per source,
    an event over 1 MiB (where the source can hold one) and a record as large as the source takes that does not
    decode."""
    sqs_target = int(total * shares[0])
    fifo_target = int(total * shares[1])
    kinesis_target = total - sqs_target - fifo_target
    # A poison message holds its group until it is dead-lettered: enough groups keep a long run parallel. Fifty
    # messages per group or partition key make about 8 user and 4 group updates per ordered profile.
    producer = Producer(
        tag=tag,
        seed=seed,
        poison_rate=poison_rate,
        now_s=now_s,
        sqs_max_message_bytes=sqs_max_message_bytes,
        fifo_groups=max(12, fifo_target // 50),
        kinesis_keys=max(20, kinesis_target // 50),
        std_profiles=max(40, sqs_target // 50),
        counters=max(6, total // 5000),
    )
    rng = random.Random(seed + 1)
    for source, target, add, shapes in (
        ("sqs", sqs_target, producer.add_sqs, SQS_SHAPES),
        ("sqs-fifo", fifo_target, producer.add_fifo, FIFO_SHAPES),
        ("kinesis", kinesis_target, producer.add_kinesis, KINESIS_SHAPES),
    ):
        while producer.plan.count(source) < target:
            if rng.random() < VENDOR_RECORDS[source]:
                shape = rng.choice(VENDOR_SHAPES[source])
                producer.add_vendor(source, shape, "segment" if shape == "eventbridge" else rng.choice(VENDORS))
            else:
                add(rng.choice(shapes))
    for _ in range(huge_events):
        producer.add_sqs_huge()
        producer.add_sqs_huge_undecodable()
        producer.add_kinesis_huge()
        producer.add_kinesis_huge_undecodable()
    return producer.plan
