"""Render a run's results (the dict saved as results.json) as a Markdown report and a PNG chart.

python -m bench.report bench/results/results.json     # re-render results.md and the chart
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import tables
from bench.tables import fmt, ours_floor, table

COLORS = {"ours": "#2b6cb0", "floor": "#9ac1e6", "naive": "#c05621", "mixpanel-import": "#6b8e23"}
# The performance targets: relative to the codec floor, measured in the same run (issue 5's 8x
# the naive forwarder is below what the codecs alone cost on realistic events).
TARGET_FLOOR_RATIO = 1.25  # ours/floor at most
TARGET_NAIVE_RATIO = 4.0  # naive/ours at least
TARGET_COLD_RATIO = 1.5


def targets_met(headline: dict[str, Any]) -> bool:
    return ours_floor(headline) <= TARGET_FLOOR_RATIO and headline["ratio_naive_ours"] >= TARGET_NAIVE_RATIO


def mix_text(data: dict[str, Any]) -> str:
    """The data's mix (`DataStats.mix`, `.time_formats`) in a line; empty for results saved before it was kept."""
    if "mix" not in data:
        return ""
    shapes = ", ".join(f"{name} {share:.0%}" for name, share in data["mix"].items())
    times = ", ".join(f"{name} {share:.0%}" for name, share in data["time_formats"].items())
    return f"events with {shapes}; time as {times}"


def _shares(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in shares.items())


def _cases(results: dict[str, Any]) -> list[str]:
    """Issue 12's section: Segment track messages and TRANSFORMS against the headline; nothing in older results."""
    cases = tables.against_headline(results)
    if not cases or "cases" not in results:
        return []
    described = results["cases"]
    seg = dict(described["segment"])
    size, properties = seg.pop("mean bytes"), seg.pop("mean properties")
    ratios = ", ".join(
        f"{tables.SHORT.get(s['name'], s['label'])} **{fmt(s['ratio_to_headline'])}×**"
        for s in cases
        if s["name"] not in tables.BASELINES
    )
    return [
        f"## Formats and transforms (issue 12): ours' CPU per message against the headline's — {ratios} "
        f"(target ≤ {tables.TARGET_HEADLINE_RATIO:g})",
        "",
        tables.cases_table(results),
        "",
        "- Ours only, SQS one message per body, in every round beside the others; × headline is the median of each "
        "round's CPU per message over the headline's CPU per event. CPU is per message that arrived, filtered ones "
        "included. Checked as the others, and more: the sink got exactly the messages not filtered, the forwarder "
        "counted the others filtered, by rule (`filtered_by`).",
        "- **per byte × headline's**: the same ratio per byte of message that arrived (× headline, times the "
        "headline's mean message size over the case's): what a case costs beyond the size of its messages. A Segment "
        "track message is about twice a Mixpanel event's bytes, and its codec alone costs about twice the headline's "
        "(codec × headline's).",
        "- **× its events in Mixpanel's shape**: the Segment case's CPU per message over that of the same events, as "
        "the forwarder sends them to Mixpanel, arriving in Mixpanel's shape and forwarded on the plain path (the row "
        "below it; median of each round's ratio): what the format costs beyond the events it makes. Those events are "
        "bigger than the headline's (the context's properties, ids, `ip`); they have no target of their own.",
        f"- **Segment track**: analytics.js, mobile and server libraries' messages about the headline's users "
        f"(PAYLOAD_FORMAT auto, the default, recognises them): mean {fmt(size, 0)} bytes, {fmt(properties, 1)} "
        f"properties plus the context; {_shares(seg)}.",
        *(
            [
                f"- **Segment track, user agents** (issue 21): the same messages, every one with its user's browser's "
                f"user agent ({described['segment_agents']:,} distinct), parsed into `$browser`, `$browser_version`, "
                "`$os`, `$device` (ua-parser, its results cached by user agent: a parse per distinct one in the "
                "warm-up, then the cache's)."
            ]
            if "segment_agents" in described
            else []
        ),
        f"- **TRANSFORMS**: the headline's events under the issue's seven rules "
        f"(`{json.dumps(described['rules'], ensure_ascii=False)}`, hashing keyed by TRANSFORM_HASH_KEY); events "
        f"{_shares(described['transforms'])}.",
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    """The whole report; also what the benchmark prints."""
    machine, config, data = results["machine"], results["config"], results["data"]
    headline = next(s for s in results["shapes"] if s["name"] == results["headline"])
    cold = results["coldstart"]
    ratio = headline["ratio_naive_ours"]
    floor_ratio = ours_floor(headline)
    parts = [
        f"# Forwarder benchmark — {results['date']}",
        "",
        f"{machine['cpu']} ({machine['cores']} cores), {machine['platform']}, Python {machine['python']}, "
        f"{machine['node']}. Code: `{machine['commit']}`.",
        f"Mode: **{config['mode']}**: {config['rounds']} rounds; each round runs ours, floor and naive on every "
        "invocation, in an order reversed every other round; numbers are medians. CPU is the benchmark "
        "process's (handler and sender threads), the sink runs in its own process "
        f"({fmt(results['sink_cpu_s'], 1)} s of CPU there, not counted).",
        "",
        f"Data: seeded, varied events ({data['events']:,} in the headline invocation): mean "
        f"{fmt(data['mean_event_bytes'], 0)} bytes, {fmt(data['mean_properties'], 1)} properties; gzip ratio "
        f"**{data['gzip_l1']:.1%}** at zlib level 1, **{data['gzip_l6']:.1%}** at level 6, "
        f"{data['gzip_default']:.1%} with `gzip.compress()`'s default (level 9)."
        + (f" Mix: {mix_text(data)}." if "mix" in data else ""),
        "",
        f"## CPU per event (µs, lower is better) — on the headline, ours/floor **{fmt(floor_ratio)}×** "
        f"(target ≤ {TARGET_FLOOR_RATIO:g}), naive/ours **{fmt(ratio, 1)}×** (target ≥ {TARGET_NAIVE_RATIO:g})",
        "",
        tables.cpu_table(results),
        "",
        "- **ours**: the real handlers; every run is checked: nothing reported for retry, the sink got every event.",
        "- **naive**: `json.loads` per body, `json.dumps` per 2000 events, `gzip.compress()` defaults, one urllib3 "
        "request at a time, no validation; only a string `time` made a number and a missing `$insert_id` added, "
        "which Mixpanel requires.",
        "- **floor**: the naive loop on ours' codecs (orjson, ISA-L gzip level 1): ours − floor is what validation, "
        "the rest of normalization and failure accounting cost.",
        "- ours/floor and naive/ours are medians of each round's ratio; wall is per event too, and includes waiting "
        "for the sink.",
        "- **with profile updates** (SQS, one message per body; after the events-only rows): CPU and wall per "
        "message, an event or an update alike; checked as the others (every event imported, every update applied, "
        "nothing refused or reported). Naive and floor have no profile path: —. The updates-only rows split the "
        "mixed row by kind (events: the first row). The headline and the targets are the events-only figures.",
        "",
        *_cases(results),
        "## Against npm `mixpanel-import`",
        "",
        tables.headline_table(results),
        "",
        f"## Peak memory: one {results['memory']['records']:,}-record SQS invocation "
        f"({fmt(results['memory']['payload_mb'], 1)} MB of JSON), each in a fresh process",
        "",
        tables.memory_table(results),
        "",
        results["memory"]["note"],
        "",
        f"## Cold start: module init, `.pyc` compiled, median of {cold['samples']} fresh processes — ratio "
        f"**{fmt(cold['ratio'], 2)}×** (target ≤ {TARGET_COLD_RATIO:g})",
        "",
        tables.cold_table(results),
        "",
        "Top imports by cumulative time (`-X importtime`, median of 3; depth 0 is the handler module):",
        "",
        table(["module", "depth", "ms"], [[f"`{n}`", str(d), fmt(ms, 1)] for n, d, ms in cold["top_cumulative"]]),
        "",
        "Own import time by package:",
        "",
        table(["package", "ms"], [[f"`{p}`", fmt(ms, 1)] for p, ms in cold["self_by_package"]]),
        "",
    ]
    if results.get("profile"):
        parts += [
            "## Where ours spends CPU (cProfile, headline invocation)",
            "",
            "```text",
            results["profile"],
            "```",
            "",
        ]
    parts.append(f"Took {fmt(results['elapsed_s'], 0)} s.")
    return "\n".join(parts) + "\n"


def chart(results: dict[str, Any], path: Path) -> str | None:
    """A grouped bar chart of CPU per event; returns why it was not drawn, if it was not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (`make bench` installs requirements-bench.txt)"
    shapes = results["shapes"]
    series: list[tuple[str, list[float | None]]] = [
        (name, [s["medians"][name]["cpu_us"] if name in s["medians"] else None for s in shapes])
        for name in ("ours", "floor", "naive")
    ]
    npm = results["npm"]
    if "medians" in npm:
        series.append(
            (
                f"mixpanel-import {npm['version']}",
                [npm["medians"]["cpu_us"] if s["name"] == results["headline"] else None for s in shapes],
            )
        )
    figure, axes = plt.subplots(figsize=(10, 6.5), dpi=120)
    height = 0.8 / len(series)
    for n, (name, values) in enumerate(series):
        color = COLORS["mixpanel-import" if name.startswith("mixpanel-import") else name]
        label: str | None = name  # once per series, on its first bar
        for row, value in enumerate(values):
            if value is None:
                continue
            y = row + (n - (len(series) - 1) / 2) * height
            axes.barh(y, value, height=height * 0.92, color=color, label=label)
            axes.text(value, y, f" {value:.1f}", va="center", fontsize=8)
            label = None
    axes.set_yticks(
        range(len(shapes)), [f"{s['label']}\n({tables.messages(s, ' events')})" for s in shapes], fontsize=9
    )
    axes.invert_yaxis()
    axes.set_xlabel("CPU µs per event, or per message with updates (median; lower is better)")
    headline = next(s for s in shapes if s["name"] == results["headline"])
    mode = "" if results["config"]["mode"] == "full" else f" ({results['config']['mode']} mode)"
    figure.suptitle(  # centred on the figure, not the axes: the labels of the rows with updates are wide
        f"Mixpanel forwarder: CPU per event — ours/floor {ours_floor(headline):.2f}×, "
        f"naive/ours {headline['ratio_naive_ours']:.1f}× on "
        f"{headline['label']}{mode}\n{results['machine']['cpu']}, Python {results['machine']['python']}, "
        f"{results['date']}",
        fontsize=10,
    )
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=len(series), fontsize=9, frameon=False)
    axes.grid(axis="x", alpha=0.3)
    axes.set_xlim(0, max(v for _, values in series for v in values if v is not None) * 1.12)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return None


def write(results: dict[str, Any], folder: Path) -> str:
    """results.json, results.md and cpu_per_event.png in `folder`; returns the Markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    not_drawn = chart(results, folder / "cpu_per_event.png")
    text = markdown(results)
    if not_drawn is not None:
        text += f"\nNo chart: {not_drawn}.\n"
    (folder / "results.md").write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/results.json")
    print(write(json.loads(source.read_text(encoding="utf-8")), source.parent))
