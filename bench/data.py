"""Realistic, seeded benchmark data: varied Mixpanel events and the Lambda invocations that carry them.

Copies of a few templates compress to almost nothing and flatter every codec; these events vary like
real traffic does (random ids, URLs, user agents, numbers), so they compress to ~20% at gzip level 6, as
production events do (16–21%), and JSON and gzip cost what they cost on a real invocation. Their shape
varies too (null values, lists, nested objects, string times, no `$insert_id`), so no one path of the
forwarder is all that is measured.
"""

from __future__ import annotations

import gzip
import json
import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localdev import eventgen

SEED = 20251124
RECORDS = 2000  # records per invocation: a large batch (the template's mappings default to 1000)
EVENTS_PER_ARRAY_BODY = 3  # events per SQS body / KPL aggregate: 2000 records stay under Lambda's 6 MB payload
MEMORY_RECORDS = 10_000  # SQS's largest batch, for the peak-memory check

_T0_S = 1_764_000_000  # 2025-11-24T16:00:00Z, as in localdev.eventgen: Mixpanel accepts it
_EVENT_NAMES = (
    "Page Viewed",
    "Product Viewed",
    "Product Searched",
    "Added To Cart",
    "Removed From Cart",
    "Checkout Started",
    "Payment Info Entered",
    "Order Completed",
    "Signed Up",
    "Logged In",
    "Video Played",
    "Feature Used",
    "Invite Sent",
    "Plan Upgraded",
)
_HOSTS = ("shop.example.com", "www.example.com", "app.example.com", "help.example.com", "m.example.com")
_SECTIONS = ("products", "category", "blog", "account", "search", "collections", "docs", "orders", "settings")
_WORDS = (
    "trail",
    "runner",
    "alpine",
    "merino",
    "shell",
    "insulated",
    "ultralight",
    "summit",
    "daypack",
    "waterproof",
    "recycled",
    "everyday",
    "tech",
    "fleece",
    "hoodie",
    "v2",
    "pro",
    "mini",
)
_REFERRERS = (
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/",
    "https://t.co/",
    "https://l.facebook.com/",
    "https://www.reddit.com/r/",
    "$direct",
)
_UTM_SOURCES = ("google", "newsletter", "twitter", "facebook", "linkedin", "partner", "direct", "reddit")
_COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "IN", "BR", "JP", "NL", "ES", "SE", "PL", "MX")
_USERS = 600  # distinct users behind the events of one data set
_PLANS = ("free", "starter", "growth", "business", "enterprise")
_LIBS = (("web", "2.58.0"), ("web", "2.56.1"), ("iphone", "5.0.8"), ("android", "8.0.1"), ("python", "4.10.1"))
_SCREEN_HEIGHTS = {  # width: height of the screens users have
    390: 844,
    393: 852,
    412: 915,
    414: 896,
    768: 1024,
    1280: 800,
    1366: 768,
    1440: 900,
    1536: 864,
    1920: 1080,
    2560: 1440,
}
_DEVICE_MODELS = ("iPhone15,2", "iPhone16,1", "Pixel 8", "SM-S918B", "MacBookPro18,3", "iPad13,4", "")
_CAMPAIGNS = ("black-friday", "spring-sale", "onboarding-3", "winback", "launch-v2", "weekly-digest", "retarget-eu")
# Optional properties some producers send as null rather than leave out.
_NULLABLE = ("coupon", "campaign_id", "error_code", "previous_plan", "search_query", "promo_code", "team_id")
_EXPERIMENTS = ("checkout_v2", "pricing_page", "onboarding_flow", "search_ranking")


def _user_agent(rng: random.Random) -> tuple[str, str, str, float, str]:
    """(user agent, $browser, $os, $browser_version, $device) with realistic, varied version numbers."""
    kind = rng.randrange(5)
    chrome = f"{rng.randint(118, 131)}.0.{rng.randint(5000, 6800)}.{rng.randint(10, 220)}"
    if kind == 0:
        mac = f"10_{rng.randint(13, 15)}_{rng.randint(0, 7)}"
        ua = f"Mozilla/5.0 (Macintosh; Intel Mac OS X {mac}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}"
        return ua + " Safari/537.36", "Chrome", "Mac OS X", float(chrome.split(".")[0]), "Mac"
    if kind == 1:
        ua = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}"
        return ua + f" Safari/537.36 Edg/{chrome}", "Microsoft Edge", "Windows", float(chrome.split(".")[0]), ""
    if kind == 2:
        ios = f"{rng.randint(16, 18)}_{rng.randint(0, 6)}"
        ua = f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        version = f"{rng.randint(16, 18)}.{rng.randint(0, 6)}"
        return ua + f" Version/{version} Mobile/15E148 Safari/604.1", "Mobile Safari", "iOS", float(version), "iPhone"
    if kind == 3:
        model = rng.choice(("SM-S918B", "Pixel 8", "Pixel 7a", "SM-A546B", "moto g(60)"))
        ua = f"Mozilla/5.0 (Linux; Android {rng.randint(11, 15)}; {model}) AppleWebKit/537.36 (KHTML, like Gecko)"
        return ua + f" Chrome/{chrome} Mobile Safari/537.36", "Chrome", "Android", float(chrome.split(".")[0]), model
    firefox = f"{rng.randint(115, 133)}.0"
    ua = f"Mozilla/5.0 (X11; Linux x86_64; rv:{firefox}) Gecko/20100101 Firefox/{firefox}"
    return ua, "Firefox", "Linux", float(firefox), ""


def _slug(rng: random.Random) -> str:
    return "-".join(rng.sample(_WORDS, rng.randint(1, 3))) + f"-{rng.randint(1, 9999)}"


def _url(rng: random.Random, host: str) -> str:
    path = f"/{rng.choice(_SECTIONS)}/{_slug(rng)}"
    if rng.random() < 0.2:
        path += f"/{rng.choice(_SECTIONS)}"
    query = []
    if rng.random() < 0.35:
        query.append(f"utm_source={rng.choice(_UTM_SOURCES)}&utm_medium={rng.choice(('cpc', 'email', 'social'))}")
    if rng.random() < 0.2:
        query.append(f"q={'+'.join(rng.sample(_WORDS, rng.randint(1, 3)))}")
    if rng.random() < 0.15:
        query.append(f"ref={rng.getrandbits(40):x}")
    return f"https://{host}{path}" + ("?" + "&".join(query) if query else "")


def _token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=n))


def _base36(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=n))


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class _User:
    """What stays the same across one user's events: ids, device, library, country."""

    distinct_id: str
    device_id: str
    user_agent: str
    browser: str
    os: str
    browser_version: float
    lib: str
    lib_version: str
    country: str
    screen_width: int
    session_id: str


def _make_user(rng: random.Random) -> _User:
    ua, browser, os_name, browser_version, _ = _user_agent(rng)
    lib, lib_version = rng.choice(_LIBS)
    device_id = _uuid(rng)
    distinct_id = f"{rng.getrandbits(48):012x}" if rng.random() < 0.6 else f"$device:{device_id}"
    width = rng.choice(tuple(_SCREEN_HEIGHTS))
    return _User(
        distinct_id,
        device_id,
        ua,
        browser,
        os_name,
        browser_version,
        lib,
        lib_version,
        rng.choice(_COUNTRIES),
        width,
        _token(rng, 16),
    )


def _iso_time(rng: random.Random, seconds: int) -> str:
    """ISO-8601 in UTC, as server-side producers write it: `Z` and milliseconds, or `+00:00` and whole seconds."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if rng.random() < 0.75:
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{rng.randint(0, 999):03d}Z"
    return moment.isoformat()


def _time(rng: random.Random, seconds: int, lib: str) -> int | float | str:
    """SDKs send seconds (web, as a float), milliseconds (mobile) or whole seconds (servers); some producers
    send a string instead: ISO-8601 (8%) or the number's digits (4%), which the forwarder converts."""
    kind = rng.random()
    if kind < 0.08:
        return _iso_time(rng, seconds)
    if kind < 0.12:
        return str(seconds * 1000 + rng.randint(0, 999)) if rng.random() < 0.5 else str(seconds)
    if lib in ("iphone", "android"):
        return seconds * 1000 + rng.randint(0, 999)
    return round(seconds + rng.random(), 3) if lib == "web" else seconds


def _numbers(rng: random.Random) -> tuple[str, list[int] | list[float]]:
    """A list property of 3 to 12 numbers: integers, or floats with one decimal."""
    n = rng.randint(3, 12)
    kind = rng.randrange(3)
    if kind == 0:
        return "scores", [rng.randint(0, 100) for _ in range(n)]
    if kind == 1:
        return "ratings", [rng.randint(10, 50) / 10 for _ in range(n)]
    return "durations_ms", [rng.randint(40, 5000) for _ in range(n)]


def make_event(rng: random.Random, i: int, users: list[_User]) -> dict[str, Any]:
    """One event of ~15 properties and ~550 bytes, as a browser, mobile SDK or server would send it.

    Users repeat across a batch (a few events per session), as in real traffic; everything else varies,
    shape included: times as numbers or strings, events without `$insert_id`, null values, lists of
    numbers and objects nested two or three levels deep (Mixpanel takes three) appear at the rates below.
    """
    user = users[min(int(rng.expovariate(1 / (len(users) / 3))), len(users) - 1)]
    seconds = _T0_S - rng.randint(0, 86_400) + i // 10
    properties: dict[str, Any] = {
        "time": _time(rng, seconds, user.lib),
        "distinct_id": user.distinct_id,
        # mixpanel-js sends 16 base-36 characters; server-side producers often a UUID, or none (10%).
        "$insert_id": _base36(rng, 16) if rng.random() < 0.7 else _uuid(rng),
        "$device_id": user.device_id,
        "$browser": user.browser,
        "$browser_version": user.browser_version,
        "$os": user.os,
        "$current_url": _url(rng, rng.choice(_HOSTS)),
        "$referrer": rng.choice(_REFERRERS) if rng.random() < 0.85 else _url(rng, rng.choice(_HOSTS)),
        "$screen_width": user.screen_width,
        "mp_lib": user.lib,
        "mp_country_code": user.country,
    }
    if properties["$referrer"] == "$direct":  # mixpanel-js sends no $referrer for direct traffic
        del properties["$referrer"]
    if rng.random() < 0.1:
        del properties["$insert_id"]
    if rng.random() < 0.2:  # the screen as a nested object instead (depth 3: device.screen.w)
        del properties["$screen_width"]
        screen = {"w": user.screen_width, "h": _SCREEN_HEIGHTS[user.screen_width], "dpr": rng.choice((1, 2, 2, 3))}
        properties["device"] = {"model": rng.choice(_DEVICE_MODELS), "screen": screen}
    if rng.random() < 0.45:
        properties["session_id"] = user.session_id
    if rng.random() < 0.1:
        properties["user_agent"] = user.user_agent
    if rng.random() < 0.15:
        properties["ip"] = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if rng.random() < 0.15:  # campaign attribution as an object (depth 2: utm.source)
        properties["utm"] = {
            "source": rng.choice(_UTM_SOURCES),
            "medium": rng.choice(("cpc", "email", "social")),
            "campaign": rng.choice(_CAMPAIGNS),
        }
    if rng.random() < 0.05:  # three levels of objects, the most Mixpanel takes
        flags = {"new_ui": rng.random() < 0.5, "one_click": rng.random() < 0.5}
        variant = {"variant": rng.choice("abc"), "flags": flags}
        properties["experiments"] = {rng.choice(_EXPERIMENTS): variant}
    if rng.random() < 0.15:
        name, numbers = _numbers(rng)
        properties[name] = numbers
    if rng.random() < 0.2:  # optional properties sent as null rather than left out
        for name in rng.sample(_NULLABLE, rng.randint(1, 2)):
            properties[name] = None
    if rng.random() < 0.25:  # commerce events carry a small list of line items
        lines = [
            (rng.randint(1000, 99999), rng.randint(1, 4), rng.randint(199, 25000)) for _ in range(rng.randint(1, 3))
        ]
        properties["items"] = [{"sku": f"SKU-{sku}", "qty": qty, "price": cents / 100} for sku, qty, cents in lines]
        properties["amount"] = sum(qty * cents for _, qty, cents in lines) / 100
    else:
        properties["load_ms"] = rng.randint(80, 4500)
        properties["plan"] = rng.choice(_PLANS)
    return {"event": rng.choice(_EVENT_NAMES), "properties": properties}


def make_events(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`n` events; the same seed gives the same events, and a longer list starts with the shorter one."""
    rng = random.Random(seed)
    users = [_make_user(rng) for _ in range(_USERS)]
    return [make_event(rng, i, users) for i in range(n)]


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Shape:
    """One invocation, kept as the JSON the Lambda runtime receives: each run decodes a fresh copy of it."""

    name: str
    label: str
    source: str  # "sqs" or "kinesis": which handler takes it
    records: int
    events: int
    payload: bytes

    def event(self) -> dict[str, Any]:
        """A fresh decoded invocation event, as the runtime hands it to the handler."""
        decoded: dict[str, Any] = json.loads(self.payload)
        return decoded


def _sent_ms(i: int) -> int:
    return _T0_S * 1000 + i * 7


def _sqs_single(events: list[dict[str, Any]]) -> dict[str, Any]:
    records = [eventgen.sqs_record(compact(e), index=i, sent_timestamp_ms=_sent_ms(i)) for i, e in enumerate(events)]
    return eventgen.sqs_event(records)


def _groups(events: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def _sqs_array(events: list[dict[str, Any]]) -> dict[str, Any]:
    groups = _groups(events, EVENTS_PER_ARRAY_BODY)
    return eventgen.sqs_event(
        [eventgen.sqs_record(compact(g), index=i, sent_timestamp_ms=_sent_ms(i)) for i, g in enumerate(groups)]
    )


def _sqs_sns(events: list[dict[str, Any]]) -> dict[str, Any]:
    return eventgen.sqs_event(
        [
            eventgen.sqs_record(eventgen.sns_envelope(compact(e), index=i), index=i, sent_timestamp_ms=_sent_ms(i))
            for i, e in enumerate(events)
        ]
    )


def _kinesis_plain(events: list[dict[str, Any]]) -> dict[str, Any]:
    return eventgen.kinesis_event([eventgen.kinesis_record(compact(e).encode(), index=i) for i, e in enumerate(events)])


def _kinesis_kpl(events: list[dict[str, Any]]) -> dict[str, Any]:
    records = []
    for i, group in enumerate(_groups(events, EVENTS_PER_ARRAY_BODY)):
        keys = [str(e["properties"]["distinct_id"]) for e in group]
        data = eventgen.kpl_aggregate([compact(e).encode() for e in group], partition_keys=keys)
        records.append(eventgen.kinesis_record(data, index=i, partition_key=keys[0]))
    return eventgen.kinesis_event(records)


_BUILDERS: tuple[tuple[str, str, str, int, Callable[[list[dict[str, Any]]], dict[str, Any]]], ...] = (
    ("sqs_single", "SQS, one event per body", "sqs", 1, _sqs_single),
    ("sqs_array", f"SQS, JSON array of {EVENTS_PER_ARRAY_BODY} per body", "sqs", EVENTS_PER_ARRAY_BODY, _sqs_array),
    ("sqs_sns", "SQS ← SNS envelope", "sqs", 1, _sqs_sns),
    ("kinesis_plain", "Kinesis, one event per record", "kinesis", 1, _kinesis_plain),
    (
        "kinesis_kpl",
        f"Kinesis KPL, {EVENTS_PER_ARRAY_BODY} per aggregate",
        "kinesis",
        EVENTS_PER_ARRAY_BODY,
        _kinesis_kpl,
    ),
)
HEADLINE = "sqs_single"


def build_shapes(records: int = RECORDS, names: tuple[str, ...] | None = None) -> list[Shape]:
    """Every invocation shape of `records` records; all draw on the same seeded event sequence."""
    most = max(per for *_, per, _ in _BUILDERS)
    events = make_events(records * most)
    shapes = []
    for name, label, source, per_record, build in _BUILDERS:
        if names is not None and name not in names:
            continue
        chosen = events[: records * per_record]
        payload = compact(build(chosen)).encode()
        shapes.append(Shape(name, label, source, records, len(chosen), payload))
    return shapes


def memory_shape(records: int = MEMORY_RECORDS) -> Shape:
    """The largest SQS batch: `records` single-event bodies."""
    events = make_events(records, seed=SEED + 1)
    return Shape(
        f"sqs_single_{records}",
        "SQS, one event per body",
        "sqs",
        records,
        records,
        compact(_sqs_single(events)).encode(),
    )


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return "".join(compact(e) + "\n" for e in events).encode()


def _depth(value: Any) -> int:
    """How many levels of objects and lists a value nests (Mixpanel takes 3): 0 for a string or number."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _time_format(value: Any) -> str:
    if isinstance(value, str):
        return "numeric string" if value.isdigit() else "ISO-8601"
    if isinstance(value, float):
        return "seconds (float)"
    return "milliseconds" if value >= 100_000_000_000 else "seconds (int)"


def _shapes(properties: dict[str, Any]) -> set[str]:
    """The less common shapes one event's properties have."""
    values = properties.values()
    shapes = set()
    if any(value is None for value in values):
        shapes.add("null value")
    lists = [value for value in values if isinstance(value, list)]
    if any(all(type(item) in (int, float) for item in value) for value in lists):
        shapes.add("list of numbers")
    if any(any(isinstance(item, dict) for item in value) for value in lists):
        shapes.add("list of objects")
    depth = max((_depth(value) for value in values if isinstance(value, dict)), default=0)
    if depth:
        shapes.add("nested object")
    if depth >= 3:
        shapes.add("nesting depth 3")
    if "$insert_id" not in properties:
        shapes.add("no $insert_id")
    return shapes


_SHAPES = ("null value", "list of numbers", "list of objects", "nested object", "nesting depth 3", "no $insert_id")
_TIME_FORMATS = ("seconds (int)", "seconds (float)", "milliseconds", "numeric string", "ISO-8601")


@dataclass(frozen=True)
class DataStats:
    """How realistic the data is: event size, how well it compresses (templated data compresses to ~5%), and
    the share of events with each less common shape (`mix`) and each format of `time` (`time_formats`)."""

    events: int
    mean_event_bytes: float
    mean_properties: float
    gzip_l1: float
    gzip_l6: float
    gzip_default: float
    mix: dict[str, float]
    time_formats: dict[str, float]


def data_stats(events: list[dict[str, Any]]) -> DataStats:
    body = ("[" + ",".join(compact(e) for e in events) + "]").encode()
    size = len(body)
    shapes = [_shapes(e["properties"]) for e in events]
    times = [_time_format(e["properties"]["time"]) for e in events]
    return DataStats(
        events=len(events),
        mean_event_bytes=size / len(events),
        mean_properties=sum(len(e["properties"]) for e in events) / len(events),
        gzip_l1=len(zlib.compress(body, 1)) / size,
        gzip_l6=len(zlib.compress(body, 6)) / size,
        gzip_default=len(gzip.compress(body)) / size,
        mix={name: sum(name in one for one in shapes) / len(events) for name in _SHAPES},
        time_formats={name: times.count(name) / len(events) for name in _TIME_FORMATS},
    )
