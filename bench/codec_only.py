"""The codec's share of a message, alone: each body decoded (orjson), the whole invocation's messages encoded as one
JSON array (orjson) and gzipped (ISA-L, level 1) — no mapping, validation, batching or request. What a message's
own size and shape cost before the forwarder does anything with it: a Segment track message is about twice a
Mixpanel event's bytes, so its codec share alone is about twice the headline's."""

from __future__ import annotations

import statistics
import time

import orjson
from isal import isal_zlib

from bench.data import Shape


def codec_us(shape: Shape, repeats: int = 9) -> float:
    """Median CPU µs per message of decoding an SQS invocation's bodies and encoding and gzipping them."""
    runs = []
    for _ in range(repeats):
        bodies = [record["body"] for record in shape.event()["Records"]]
        started = time.process_time()
        messages = [orjson.loads(body) for body in bodies]
        compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
        compressor.compress(orjson.dumps(messages))
        compressor.flush()
        runs.append((time.process_time() - started) / len(bodies) * 1e6)
    return statistics.median(runs)
