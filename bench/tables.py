"""The report's tables, from a run's results (the dict saved as results.json): CPU per event, issue 12's cases against
the headline, npm's import, memory and cold start."""

from __future__ import annotations

from typing import Any

IMPLEMENTATIONS = ("ours", "floor", "naive")
SHORT = {
    "sqs_segment": "Segment track",
    "sqs_segment_events": "their events in Mixpanel's shape",
    "sqs_segment_agents": "Segment track, user agents",
    "sqs_transforms": "TRANSFORMS",
}  # issue 12's cases, in headings
# Cases measured only to be compared with another (a format's events in Mixpanel's shape): no target of their own.
BASELINES = ("sqs_segment_events",)
TARGET_HEADLINE_RATIO = 1.5  # issue 12: a format's or TRANSFORMS' CPU per message at most this times the headline's


def ours_floor(shape: dict[str, Any]) -> float:
    """Median of each round's ours/floor (results saved before it was kept: the ratio of the medians)."""
    if "ratio_ours_floor" in shape:
        return float(shape["ratio_ours_floor"])
    medians = shape["medians"]
    return float(medians["ours"]["cpu_us"] / medians["floor"]["cpu_us"])


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def messages(shape: dict[str, Any], events: str = "") -> str:
    """The events, then the profile updates beside them if any ("1,400 + 400 user + 200 group updates") and the
    messages TRANSFORMS filtered out ("1,906 + 94 filtered"); `events` follows the events' count (" events")."""
    parts = [f"{shape['events']:,}{events}"] if shape["events"] else []
    updates = [f"{shape[f'{kind}_updates']:,} {kind}" for kind in ("user", "group") if shape.get(f"{kind}_updates")]
    if updates:
        parts += [*updates[:-1], updates[-1] + " updates"]
    filtered = sum(shape.get("filtered_by", {}).values())
    if filtered:
        parts.append(f"{filtered:,} filtered")
    return " + ".join(parts)


def cpu_table(results: dict[str, Any]) -> str:
    rows = []
    for shape in results["shapes"]:
        m = shape["medians"]
        compared = has_floor(shape)  # else "—": floor and naive did not run on it
        rows.append(
            [
                shape["label"],
                f"{shape['records']:,}",
                messages(shape),
                fmt(shape["payload_mb"], 1),
                f"**{fmt(m['ours']['cpu_us'])}**",
                fmt(m["floor"]["cpu_us"]) if compared else "—",
                fmt(m["naive"]["cpu_us"]) if compared else "—",
                f"**{fmt(ours_floor(shape))}×**" if compared else "—",
                f"**{fmt(shape['ratio_naive_ours'], 1)}×**" if compared else "—",
                fmt(m["ours"]["wall_us"]),
                fmt(m["naive"]["wall_us"]) if compared else "—",
            ]
        )
    header = [
        "invocation",
        "records",
        "events",
        "MB",
        "ours",
        "floor",
        "naive",
        "ours/floor",
        "naive/ours",
        "ours wall",
        "naive wall",
    ]
    return table(header, rows)


def headline_table(results: dict[str, Any]) -> str:
    headline = next(s for s in results["shapes"] if s["name"] == results["headline"])
    rows = []
    for name in IMPLEMENTATIONS:
        m = headline["medians"][name]
        rows.append([f"{name} ({headline['label']})", fmt(m["cpu_us"]), f"{1e6 / m['cpu_us']:,.0f}", fmt(m["wall_us"])])
    npm = results["npm"]
    if "medians" in npm:
        m = npm["medians"]
        label = (
            f"mixpanel-import {npm['version']} ({npm['node']}, {npm['events']:,} events from NDJSON, "
            "defaults + time and $insert_id)"
        )
        rows.append([label, fmt(m["cpu_us"]), f"{1e6 / m['cpu_us']:,.0f}", fmt(m["wall_us"])])
    else:
        rows.append([f"mixpanel-import: not run — {npm['skipped']}", "—", "—", "—"])
    return table(["forwarder", "CPU µs/event", "events per CPU-second", "wall µs/event"], rows)


def memory_table(results: dict[str, Any]) -> str:
    memory = results["memory"]
    rows = [
        [
            name,
            fmt(m["before_mib"], 1),
            f"**{fmt(m['peak_mib'], 1)}**",
            fmt(m["peak_mib"] - m["before_mib"], 1),
            fmt(m["process_peak_mib"], 1),
        ]
        for name, m in memory["runs"].items()
    ]
    header = ["forwarder", "RSS before the call", "peak during the call", "growth", "process peak"]
    return table(header, rows)


def cold_table(results: dict[str, Any]) -> str:
    cold = results["coldstart"]
    rows = [
        ["handler (`functions/sqs_forwarder/app.py`)", f"**{fmt(cold['handler_median_ms'], 1)}**"]
        + [fmt(v, 1) for v in (min(cold["handler_ms"]), max(cold["handler_ms"]))],
        ["`import json, gzip, urllib3`", f"**{fmt(cold['baseline_median_ms'], 1)}**"]
        + [fmt(v, 1) for v in (min(cold["baseline_ms"]), max(cold["baseline_ms"]))],
    ]
    return table(["module init", "median ms", "min", "max"], rows)


def has_floor(shape: dict[str, Any]) -> bool:
    """Whether floor and naive ran on this invocation: not on one with profile updates (they have no such path)."""
    return "floor" in shape["medians"]


def against_headline(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 12's cases: the shapes measured against the headline."""
    return [s for s in results["shapes"] if s.get("ratio_to_headline") is not None]


def cases_table(results: dict[str, Any]) -> str:
    """Issue 12's cases against the headline (ours): CPU per message that arrived, and its ratio to the headline's
    CPU per event (median of each round's ratio)."""
    headline = next(s for s in results["shapes"] if s["name"] == results["headline"])
    rows = [
        [
            f"{headline['label']} (the headline, plain)",
            f"{headline['records']:,}",
            messages(headline),
            _bytes(headline),
            f"**{fmt(headline['medians']['ours']['cpu_us'])}**",
            "1",
            "1",
            "—",
            *_codec_columns(headline, headline),
            fmt(headline["medians"]["ours"]["wall_us"]),
        ]
    ]
    for shape in against_headline(results):
        m = shape["medians"]["ours"]
        rows.append(
            [
                shape["label"],
                f"{shape['records']:,}",
                messages(shape),
                _bytes(shape),
                f"**{fmt(m['cpu_us'])}**",
                f"**{fmt(shape['ratio_to_headline'])}×**",
                _per_byte(shape, headline),
                "—" if shape.get("ratio_to_mixpanel_shape") is None else f"{fmt(shape['ratio_to_mixpanel_shape'])}×",
                *_codec_columns(shape, headline),
                fmt(m["wall_us"]),
            ]
        )
    header = ["invocation", "records", "sent (+ filtered)", "bytes/message", "ours µs/message", "× headline"]
    header += ["per byte × headline's", "× its events in Mixpanel's shape", "codec alone µs", "codec × headline's"]
    header.append("wall")
    return table(header, rows)


def per_byte_ratio(shape: dict[str, Any], headline: dict[str, Any]) -> float | None:
    """× headline per byte of message that arrived: the sizes are the same every round, so this is the median of
    the rounds' ratios scaled by them; None in results saved before message sizes were."""
    size, headline_size = shape.get("message_bytes"), headline.get("message_bytes")
    if not size or not headline_size:
        return None
    return float(shape["ratio_to_headline"]) * float(headline_size) / float(size)


def _per_byte(shape: dict[str, Any], headline: dict[str, Any]) -> str:
    ratio = per_byte_ratio(shape, headline)
    return "—" if ratio is None else f"{fmt(ratio)}×"


def _bytes(shape: dict[str, Any]) -> str:
    """The mean message's bytes (older results: the record's, envelope included)."""
    size = shape.get("message_bytes") or shape["payload_mb"] * 1e6 / shape["records"]
    return fmt(size, 0)


def _codec_columns(shape: dict[str, Any], headline: dict[str, Any]) -> list[str]:
    """The message's codec share alone (bench/codec_only.py), and the median of its rounds' ratios to the
    headline's. Measured after the rounds, in turns with the headline: comparable with each other, not with ours'
    figures, which the machine's drift may have measured at another speed."""
    codec, ratio = shape.get("codec_us"), shape.get("codec_ratio")
    if codec is None or ratio is None:
        return ["—", "—"]
    return [fmt(codec), f"{fmt(ratio)}×"]
