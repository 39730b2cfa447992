"""`make bench`: CPU, wall time, memory and cold start of the forwarder, beside a naive one and npm's.

    python -m bench            # the full run: results in bench/results/
    python -m bench --quick    # or BENCH_QUICK=1: a smoke run for CI (small, 2 rounds, no npm), ~20 s

The machine's speed drifts minute to minute, so every round runs each forwarder once on each invocation,
in an order reversed every other round, and only medians and per-round ratios are quoted. Nothing here
asserts a time: a run fails only when a forwarder did not import every event.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import codec_only, coldstart, data, events, harness, memory, npm, report, segment, transformed
from bench import profile as profiling

RESULTS = harness.ROOT / "bench" / "results"


@dataclass(frozen=True)
class Config:
    mode: str
    records: int
    rounds: int
    coldstart_samples: int
    memory_records: int
    npm_events: int  # 0: npm not run
    profile: bool
    out: Path

    @staticmethod
    def full(rounds: int) -> Config:
        return Config("full", data.RECORDS, rounds, 41, data.MEMORY_RECORDS, 10 * data.RECORDS, True, RESULTS)

    @staticmethod
    def quick() -> Config:
        return Config("quick", 200, 2, 3, 1000, 0, False, RESULTS / "quick")


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:  # Linux; platform.processor() is often empty
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    available = npm.available()
    git = ["git", "-C", str(harness.ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)  # noqa: S603
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)  # noqa: S603
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "node": available.node if isinstance(available, npm.Npm) else "no node",
        "commit": commit.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else ""),
    }


def _medians(runs: list[harness.Run], messages: int) -> dict[str, float]:
    return {
        "cpu_us": statistics.median(r.cpu_us for r in runs) / messages,
        "wall_us": statistics.median(r.wall_us for r in runs) / messages,
    }


def _takers(implementations: list[harness.Implementation], shape: data.Shape) -> list[harness.Implementation]:
    """Those that run on `shape`: one with profile updates, another format or TRANSFORMS only for ours."""
    return [i for i in implementations if i.complete or shape.plain]


def _shape_result(
    shape: data.Shape,
    runs: dict[str, list[harness.Run]],
    ratios: list[float],
    floor_ratios: list[float],
    headline_ratios: list[float],
    shape_ratios: list[float],
) -> dict[str, Any]:
    """One row of the report: medians per message (an event or an update) of each forwarder that ran on it; the
    ratios only where floor and naive ran too (None: they have no profile path), and for issue 12's cases ours'
    CPU per message against ours' on the headline, and a format's against its events in Mixpanel's shape (None for
    the others)."""
    return {
        "name": shape.name,
        "label": shape.label,
        "records": shape.records,
        "events": shape.events,
        "user_updates": shape.users,
        "group_updates": shape.groups,
        "payload_mb": len(shape.payload) / 1e6,
        "message_bytes": shape.message_bytes(),
        "medians": {name: _medians(r, shape.messages) for name, r in runs.items()},
        "ratio_naive_ours": statistics.median(ratios) if ratios else None,
        "ratio_ours_floor": statistics.median(floor_ratios) if floor_ratios else None,
        "ratio_to_headline": statistics.median(headline_ratios) if headline_ratios else None,
        "ratio_to_mixpanel_shape": statistics.median(shape_ratios) if shape_ratios else None,
        "filtered_by": shape.filtered_by,
        "runs": {name: [asdict(one) for one in r] for name, r in runs.items()},
    }


_ROUND_ALSO = (data.MIXED, *data.AGAINST_HEADLINE)  # printed each round beside the headline


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rounds(
    config: Config, shapes: list[data.Shape], sink: harness.SinkProcess, available: npm.Npm | str, scratch: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """CPU and wall per message: every forwarder on every invocation it can take, each round; then npm's import
    once."""
    implementations: list[harness.Implementation] = [
        harness.Ours(sink),
        harness.Naive(sink, floor=True),
        harness.Naive(sink),
    ]
    runs: dict[str, dict[str, list[harness.Run]]] = {
        s.name: {i.name: [] for i in _takers(implementations, s)} for s in shapes
    }
    ratios: dict[str, list[float]] = {s.name: [] for s in shapes}
    floor_ratios: dict[str, list[float]] = {s.name: [] for s in shapes}
    headline_ratios: dict[str, list[float]] = {s.name: [] for s in shapes}
    shape_ratios: dict[str, list[float]] = {s.name: [] for s in shapes}
    for shape in shapes:  # warm-up: settings, pools, connections, first-call paths
        for implementation in _takers(implementations, shape):
            harness.measure(implementation, shape, sink)
    ndjson = scratch / "events.ndjson"
    if isinstance(available, npm.Npm):
        ndjson.write_bytes(data.ndjson(events.make_events(config.npm_events)))
    npm_runs: list[harness.Run] = []
    for round_ in range(config.rounds):
        order = implementations if round_ % 2 == 0 else implementations[::-1]
        for shape in shapes:
            measured = {i.name: harness.measure(i, shape, sink) for i in _takers(order, shape)}
            for name, one in measured.items():
                runs[shape.name][name].append(one)
            if "naive" in measured:
                ratios[shape.name].append(measured["naive"].cpu_us / measured["ours"].cpu_us)
                floor_ratios[shape.name].append(measured["ours"].cpu_us / measured["floor"].cpu_us)
        if isinstance(available, npm.Npm):
            npm_runs.append(npm.measure(available, ndjson, config.npm_events, sink))
        ours = runs[data.HEADLINE]["ours"][-1].cpu_us / config.records
        for shape in shapes:  # issue 12's cases: CPU per message against the headline's, per event, this round
            if shape.name in data.AGAINST_HEADLINE:
                per_message = runs[shape.name]["ours"][-1].cpu_us / shape.messages
                headline_ratios[shape.name].append(per_message / ours)
        for name, same in data.IN_MIXPANEL_SHAPE.items():  # a format against its events in Mixpanel's shape
            if name in runs and same in runs:
                shape_ratios[name].append(runs[name]["ours"][-1].cpu_us / runs[same]["ours"][-1].cpu_us)
        _say(
            f"  round {round_ + 1}/{config.rounds}: ours {ours:.2f} µs/event on {data.HEADLINE}; µs/message "
            + ", ".join(f"{runs[n]['ours'][-1].cpu_us / config.records:.2f} on {n}" for n in _ROUND_ALSO if n in runs)
        )
    shape_results = [
        _shape_result(
            s, runs[s.name], ratios[s.name], floor_ratios[s.name], headline_ratios[s.name], shape_ratios[s.name]
        )
        for s in shapes
    ]
    if not isinstance(available, npm.Npm):
        return shape_results, {"skipped": available}
    npm_result = {
        "version": available.version,
        "node": available.node,
        "events": config.npm_events,
        "medians": _medians(npm_runs, config.npm_events),
        "runs": [asdict(one) for one in npm_runs],
    }
    return shape_results, npm_result


def _memory(config: Config, mean_event_bytes: float, sink: harness.SinkProcess, scratch: Path) -> dict[str, Any]:
    """Peak RSS of one large SQS invocation, ours and naive, each in a fresh process."""
    _say(f"  peak memory: {config.memory_records}-record invocation, fresh processes …")
    big = data.memory_shape(config.memory_records)
    payload = scratch / "memory.json"
    payload.write_bytes(big.payload)
    per_record = len(big.payload) / big.records
    return {
        "records": big.records,
        "payload_mb": len(big.payload) / 1e6,
        "runs": {name: memory.measure(name, payload, big.events, sink) for name in ("ours", "naive")},
        "note": (
            "MiB, from /proc/self/status. RSS before the call = interpreter, imports and the decoded event, "
            "which any handler starts with; peak during the call = VmHWM reset just before it; process peak also "
            "counts decoding the invocation. (`ru_maxrss` is not used: on Linux a child started by fork + exec "
            "reports its parent's peak there.) "
            f"Lambda caps an invocation at 6 MB, so with ~{mean_event_bytes:.0f}-byte events a real batch holds "
            f"about {6e6 / per_record:,.0f} such records: this is an upper bound."
        ),
    }


def run(config: Config) -> dict[str, Any]:
    """The whole benchmark; returns what results.json holds."""
    started = time.perf_counter()
    _say(f"bench ({config.mode}): building data …")
    shapes = data.build_shapes(config.records)
    stats = data.data_stats(events.make_events(config.records))  # the headline invocation's events
    _say(
        f"  {stats.events} events, mean {stats.mean_event_bytes:.0f} B, {stats.mean_properties:.1f} properties; "
        f"gzip ratio {stats.gzip_l1:.1%} (L1), {stats.gzip_l6:.1%} (L6), {stats.gzip_default:.1%} (default)"
    )
    _say(f"  {report.mix_text(asdict(stats))}")
    available = npm.available() if config.npm_events else "not run in quick mode"
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "config": {"mode": config.mode, "rounds": config.rounds, "records": config.records},
        "headline": data.HEADLINE,
        "data": asdict(stats),
        "cases": {  # issue 12's: what the Segment messages are like, and the share of events each rule acts on
            "segment": segment.track_stats(segment.make_tracks(config.records)),
            "segment_agents": segment.distinct_agents(segment.make_tracks(config.records, user_agents=True)),
            "transforms": transformed.rule_stats(transformed.make_events_for_rules(config.records)),
            "rules": transformed.RULES,
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch, harness.sink_process() as sink:
        results["shapes"], results["npm"] = _rounds(config, shapes, sink, available, Path(scratch))
        # The headline and issue 12's cases: their codec share alone, in turns (bench/codec_only.py).
        by_name = {result["name"]: result for result in results["shapes"]}
        cases = [shape for shape in shapes if by_name[shape.name].get("ratio_to_headline") is not None]
        headline_shape = next(shape for shape in shapes if shape.name == data.HEADLINE)
        for name, (codec, ratio) in codec_only.codec_in_turns(headline_shape, cases, 2 * config.rounds + 1).items():
            by_name[name]["codec_us"], by_name[name]["codec_ratio"] = codec, ratio
        results["memory"] = _memory(config, stats.mean_event_bytes, sink, Path(scratch))
        results["sink_cpu_s"] = sink.cpu_seconds()

    _say(f"  cold start: {config.coldstart_samples} fresh processes each …")
    cold = coldstart.measure(config.coldstart_samples)
    results["coldstart"] = {
        **asdict(cold),
        "handler_median_ms": cold.handler_median_ms,
        "baseline_median_ms": cold.baseline_median_ms,
        "ratio": cold.ratio,
    }
    headline = next(s for s in results["shapes"] if s["name"] == data.HEADLINE)
    if config.profile and not report.targets_met(headline):
        _say("  a CPU target is missed: profiling ours …")
        results["profile"] = profiling.format_profile(profiling.profile(runs=5, top=20, records=config.records))
    results["elapsed_s"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run for CI (also BENCH_QUICK=1)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "9")), help="full mode")
    args = parser.parse_args(argv)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # before the handlers create their logger
    quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    config = Config.quick() if quick else Config.full(max(args.rounds, 1))
    results = run(config)
    print(report.write(results, config.out))
    _say(f"bench: wrote {config.out}/results.md, results.json and cpu_per_event.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
