"""Where our CPU per event goes: cProfile of the handler on the headline invocation (or another).

    python -m bench.profile [--runs 5] [--top 20] [--shape sqs_segment]

cProfile sees the handler's thread only (decode, normalize, encode, batching, bookkeeping); the sender
threads (gzip, HTTP) are measured apart with thread CPU clocks, so the split adds up to the process CPU.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import time
from dataclasses import dataclass

from bench import data, harness


@dataclass(frozen=True)
class Profile:
    shape: str
    events: int  # messages: events, updates or filtered
    process_us_per_event: float
    handler_thread_us_per_event: float
    by_own_time: str  # pstats tables
    by_cumulative_time: str


def profile(runs: int = 5, top: int = 20, records: int = data.RECORDS, name: str = data.HEADLINE) -> Profile:
    """Runs ours `runs` times on the headline shape, or the one `name`d (after a warm-up), profiled and
    unprofiled; per message that arrived (an event, an update, or one the rules filter out)."""
    shape = data.build_shapes(records, names=(name,))[0]
    with harness.sink_process() as sink:
        ours = harness.Ours(sink)
        harness.measure(ours, shape, sink)  # warm: settings, pool, connections; and the forwarder for `shape`
        # Unprofiled first: the split between the handler's thread and the sender threads.
        process_us = thread_us = 0.0
        for _ in range(runs):
            event = shape.event()
            cpu0, thread0 = time.process_time(), time.thread_time()
            ours.check(shape, ours.run(shape, event))
            thread_us += (time.thread_time() - thread0) * 1e6
            process_us += (time.process_time() - cpu0) * 1e6
        profiler = cProfile.Profile()
        for _ in range(runs):
            event = shape.event()
            profiler.enable()
            outcome = ours.run(shape, event)
            profiler.disable()
            ours.check(shape, outcome)
    tables = []
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        tables.append(_trim(out.getvalue()))
    total = runs * shape.messages
    return Profile(shape.name, total, process_us / total, thread_us / total, tables[0], tables[1])


def _trim(text: str) -> str:
    """pstats' table without its preamble, and with paths shortened to what follows site-packages or the repo."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    root = str(harness.ROOT) + "/"
    # The wall clock's lock waits are the handler waiting for its senders, not CPU: left out.
    kept = (line.rstrip() for line in lines[start:] if line.strip() and "_thread.lock" not in line)
    table = "\n".join(kept)
    table = re.sub(r"\S*/(site-packages|lib/python3\.\d+)/", "", table)
    return table.replace(root, "").replace("layers/forwarder/", "")


def format_profile(result: Profile) -> str:
    sender = result.process_us_per_event - result.handler_thread_us_per_event
    return (
        f"ours on {result.shape}, {result.events} messages: {result.process_us_per_event:.2f} µs CPU/message = "
        f"{result.handler_thread_us_per_event:.2f} in the handler's thread + {sender:.2f} in sender threads "
        "(gzip, HTTP)\n"
        "Handler thread only, cProfile's wall clock with the waits for the senders left out; it inflates small "
        "calls, so read the ranking, not the totals.\n\n"
        f"By own time:\n{result.by_own_time}\n\n"
        f"By cumulative time (delivery.wait and below: waiting for the senders):\n{result.by_cumulative_time}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--shape", default=data.HEADLINE, help=f"an invocation's name (default {data.HEADLINE})")
    args = parser.parse_args()
    print(format_profile(profile(args.runs, args.top, name=args.shape)))


if __name__ == "__main__":
    main()
