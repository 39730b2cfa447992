"""The codec's share of a message, alone: each body decoded (orjson), the whole invocation's messages encoded as one
JSON array (orjson) and gzipped (ISA-L, level 1) — no mapping, validation, batching or request. What a message's
own size and shape cost before the forwarder does anything with it: a Segment track message is about twice a
Mixpanel event's bytes, so its codec share alone is well above the headline's.

The shapes are measured in turns, round by round, each against the headline's run of the same round: the
machine's speed drifts too much for figures taken a minute apart to be divided."""

from __future__ import annotations

import statistics
import time

import orjson
from isal import isal_zlib

from bench.data import Shape


def codec_us(shape: Shape) -> float:
    """CPU µs per message of decoding an SQS invocation's bodies, then encoding and gzipping them, once."""
    bodies = [record["body"] for record in shape.event()["Records"]]
    started = time.process_time()
    messages = [orjson.loads(body) for body in bodies]
    compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
    compressor.compress(orjson.dumps(messages))
    compressor.flush()
    return (time.process_time() - started) / len(bodies) * 1e6


def codec_in_turns(headline: Shape, others: list[Shape], rounds: int) -> dict[str, tuple[float, float]]:
    """Per shape name (the headline's included): the median codec µs per message, and the median of each round's
    ratio to the headline's."""
    runs: dict[str, list[float]] = {shape.name: [] for shape in (headline, *others)}
    ratios: dict[str, list[float]] = {shape.name: [] for shape in (headline, *others)}
    for round_ in range(rounds):
        order = [headline, *others] if round_ % 2 == 0 else [*others, headline]
        measured = {shape.name: codec_us(shape) for shape in order}
        for name, value in measured.items():
            runs[name].append(value)
            ratios[name].append(value / measured[headline.name])
    return {name: (statistics.median(runs[name]), statistics.median(ratios[name])) for name in runs}
