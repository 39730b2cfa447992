"""Realistic, seeded benchmark data: varied Mixpanel events and the Lambda invocations that carry them.

Copies of a few templates compress to almost nothing and flatter every codec; these events vary like
real traffic does (random ids, URLs, user agents, numbers), so they compress to ~20% at gzip level 6, as
production events do (16–21%), and JSON and gzip cost what they cost on a real invocation. Their shape
varies too (null values, lists, nested objects, string times, no `$insert_id`), so no one path of the
forwarder is all that is measured. Profile updates (user and group, issue 11) are seeded and varied the same way,
for the invocations that mix them with events.
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
from typing import Any, TypeVar

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

# Profile updates: who the users are (a name and an email per distinct_id), and the companies, accounts and teams
# of group analytics, with what their profiles say.
_FIRST_NAMES = ("Ana", "Ben", "Chen", "Dara", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mia")
_LAST_NAMES = ("Silva", "Novak", "Okafor", "Larsen", "Moreau", "Tanaka", "Schmidt", "Garcia", "Kowalski", "Nguyen")
_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "icloud.com", "proton.me", "yahoo.co.jp", "web.de", "example.org")
_LANGUAGES = ("en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "pt-BR", "es-ES", "sv-SE")
_TIMEZONES = ("America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata")
_UNSET = ("trial_ends", "coupon", "churn_risk", "pending_invite", "promo_code", "beta_opt_in")
_INDUSTRIES = ("retail", "fintech", "healthcare", "media", "education", "logistics", "saas", "gaming")
_FEATURES = ("sso", "audit_log", "api_access", "custom_roles", "sandbox", "webhooks", "data_export", "priority_support")
_INTEGRATIONS = ("slack", "salesforce", "hubspot", "zendesk", "segment", "snowflake", "bigquery", "jira")
_COMPANY_SUFFIXES = ("Inc", "GmbH", "Ltd", "SA", "KK", "AB", "Labs", "Group")
_GROUPS = 80  # distinct groups behind the group updates of one data set
# The share of each kind of message in the mixed invocation (issue 11): events, user updates, group updates.
MIX = {"event": 0.7, "user": 0.2, "group": 0.1}


_T = TypeVar("_T")


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
    user = _popular(rng, users)
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


def _popular(rng: random.Random, population: list[_T]) -> _T:
    """One of `population`, the first ones far more often: a few users (or groups) make most of the traffic."""
    return population[min(int(rng.expovariate(1 / (len(population) / 3))), len(population) - 1)]


def _users(rng: random.Random) -> list[_User]:
    return [_make_user(rng) for _ in range(_USERS)]


def make_events(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`n` events; the same seed gives the same events, and a longer list starts with the shorter one."""
    rng = random.Random(seed)
    users = _users(rng)
    return [make_event(rng, i, users) for i in range(n)]


def _date(seconds: int) -> str:
    """A date property as Mixpanel reads one: ISO-8601 without a zone (UTC), whole seconds."""
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}"


def _some(rng: random.Random, choices: dict[str, Callable[[], Any]], low: int, high: int) -> dict[str, Any]:
    """`low` to `high` of the properties in `choices`, in their order, each value made only when chosen."""
    names = set(rng.sample(tuple(choices), rng.randint(low, high)))
    return {name: make() for name, make in choices.items() if name in names}


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(tuple(weights), tuple(weights.values()))[0]


# Operations by how often SDKs and back ends send them: mostly $set, then counters, first-touch facts, lists.
_USER_OPERATIONS = {"$set": 45, "$set_once": 15, "$add": 15, "$union": 15, "$unset": 10}
_GROUP_OPERATIONS = {"$set": 60, "$set_once": 20, "$union": 20}


def make_user_update(rng: random.Random, users: list[_User]) -> dict[str, Any]:
    """One /engage update about an identified user: one operation on a few properties of varied types, sometimes
    with `$ignore_time` (a back end's update, not the user's activity), the user's `$ip` or a `$time`."""
    user = _popular(rng, users)
    person = random.Random(user.distinct_id)  # the same name and email in every update about this user
    first, last, domain = person.choice(_FIRST_NAMES), person.choice(_LAST_NAMES), person.choice(_EMAIL_DOMAINS)
    first_seen = _T0_S - rng.randint(0, 400 * 86_400)
    operation = _weighted(rng, _USER_OPERATIONS)
    value: dict[str, Any] | list[str]
    if operation == "$set":
        value = _some(
            rng,
            {
                "$name": lambda: f"{first} {last}",
                "$email": lambda: f"{first.lower()}.{last.lower()}{person.randint(1, 99)}@{domain}",
                "$avatar": lambda: f"https://cdn.example.com/avatars/{user.distinct_id}.png",
                "plan": lambda: rng.choice(_PLANS),
                "seats": lambda: rng.randint(1, 250),
                "lifetime_value": lambda: rng.randint(0, 500_000) / 100,
                "is_trial": lambda: rng.random() < 0.3,
                "last_login": lambda: _date(_T0_S - rng.randint(0, 30 * 86_400)),
                "language": lambda: rng.choice(_LANGUAGES),
                "timezone": lambda: rng.choice(_TIMEZONES),
                "$country_code": lambda: user.country,
                "notifications": lambda: {"email": rng.random() < 0.7, "push": rng.random() < 0.4},
                "favorite_categories": lambda: rng.sample(_SECTIONS, rng.randint(1, 3)),
                "referral_code": lambda: None if rng.random() < 0.5 else _base36(rng, 8),  # null: cleared
            },
            3,
            7,
        )
    elif operation == "$set_once":
        value = _some(
            rng,
            {
                "first_seen": lambda: _date(first_seen),
                "signup_source": lambda: rng.choice(_UTM_SOURCES),
                "initial_referrer": lambda: rng.choice(_REFERRERS),
                "signup_platform": lambda: user.lib,
                "first_plan": lambda: rng.choice(_PLANS),
            },
            2,
            3,
        )
    elif operation == "$add":
        value = _some(
            rng,
            {
                "logins": lambda: 1,
                "orders": lambda: rng.randint(1, 3),
                "lifetime_value": lambda: rng.randint(199, 25_000) / 100,
                "credits": lambda: -rng.randint(1, 50),
            },
            1,
            2,
        )
    elif operation == "$union":
        value = _some(
            rng,
            {
                "viewed_categories": lambda: rng.sample(_SECTIONS, rng.randint(1, 3)),
                "campaigns": lambda: rng.sample(_CAMPAIGNS, rng.randint(1, 2)),
                "browsers": lambda: [user.browser],
                "cohort_ids": lambda: [rng.randint(1000, 9999) for _ in range(rng.randint(1, 3))],
            },
            1,
            2,
        )
    else:
        value = rng.sample(_UNSET, rng.randint(1, 3))
    update: dict[str, Any] = {"$distinct_id": user.distinct_id, operation: value}
    if rng.random() < 0.2:
        update["$ignore_time"] = True
    if rng.random() < 0.1:
        update["$ip"] = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if rng.random() < 0.15:
        update["$time"] = (_T0_S - rng.randint(0, 86_400)) * 1000 + rng.randint(0, 999)  # milliseconds
    return update


@dataclass(frozen=True)
class _Group:
    """A company, account or team of group analytics: its group key, its id (a string, or a number) and name."""

    key: str
    id: str | int
    name: str


def _make_group(rng: random.Random) -> _Group:
    name = f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()} {rng.choice(_COMPANY_SUFFIXES)}"
    kind = rng.random()
    if kind < 0.5:
        return _Group("company_id", f"cmp_{_token(rng, 14)}", name)
    if kind < 0.8:
        return _Group("account_id", rng.randint(10_000, 9_999_999), name)  # a number, as many CRMs export it
    return _Group("team_id", "T" + _base36(rng, 8).upper(), name)


def make_group_update(rng: random.Random, groups: list[_Group]) -> dict[str, Any]:
    """One /groups update: $set (most), $set_once or $union on a few properties of a company, account or team."""
    group = _popular(rng, groups)
    domain = group.name.split()[0].lower() + ".example.com"
    operation = _weighted(rng, _GROUP_OPERATIONS)
    if operation == "$set":
        value = _some(
            rng,
            {
                "$name": lambda: group.name,
                "plan": lambda: rng.choice(_PLANS),
                "seats": lambda: rng.randint(5, 5000),
                "mrr": lambda: rng.randint(2_900, 2_500_000) / 100,
                "industry": lambda: rng.choice(_INDUSTRIES),
                "country": lambda: rng.choice(_COUNTRIES),
                "domain": lambda: domain,
                "is_enterprise": lambda: rng.random() < 0.2,
                "renewal_date": lambda: _date(_T0_S + rng.randint(1, 365) * 86_400),
                "owner_email": lambda: f"{rng.choice(_FIRST_NAMES).lower()}@{domain}",
            },
            3,
            6,
        )
    elif operation == "$set_once":
        value = _some(
            rng,
            {
                "created_at": lambda: _date(_T0_S - rng.randint(30, 2000) * 86_400),
                "first_plan": lambda: rng.choice(_PLANS),
                "signup_channel": lambda: rng.choice(_UTM_SOURCES),
                "founded_year": lambda: rng.randint(1970, 2024),
            },
            2,
            3,
        )
    else:
        value = _some(
            rng,
            {
                "features": lambda: rng.sample(_FEATURES, rng.randint(1, 3)),
                "integrations": lambda: rng.sample(_INTEGRATIONS, rng.randint(1, 2)),
            },
            1,
            2,
        )
    return {"$group_key": group.key, "$group_id": group.id, operation: value}


def kind_counts(n: int, shares: dict[str, float]) -> dict[str, int]:
    """How many messages of each kind (`MIX`'s names) `n` messages in these shares hold: every kind is named, and
    the counts add up to `n` (the first kind takes what rounding leaves)."""
    counts = {kind: round(n * shares.get(kind, 0.0)) for kind in MIX}
    first = next(kind for kind in MIX if kind in shares)
    counts[first] += n - sum(counts.values())
    return counts


def make_messages(n: int, shares: dict[str, float], seed: int = SEED) -> list[dict[str, Any]]:
    """`n` messages: events, user and group updates in these shares (see `kind_counts`), interleaved at random.

    The events are `make_events`' (the same seed gives the same events as the events-only invocations start with);
    the updates are about the same users, and the order of kinds is drawn from the seed too.
    """
    counts = kind_counts(n, shares)
    events = iter(make_events(counts["event"], seed))
    users = [user for user in _users(random.Random(seed)) if not user.distinct_id.startswith("$device:")]
    rng = random.Random(f"{seed}:profile updates")
    groups = [_make_group(rng) for _ in range(_GROUPS)]
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    rng.shuffle(kinds)
    make: dict[str, Callable[[], dict[str, Any]]] = {
        "event": lambda: next(events),
        "user": lambda: make_user_update(rng, users),  # updates are about identified users only
        "group": lambda: make_group_update(rng, groups),
    }
    return [make[kind]() for kind in kinds]


def message_kind(message: dict[str, Any]) -> str:
    """The kind of one of `make_messages`' messages, by its keys as the forwarder tells them."""
    if "event" in message:
        return "event"
    return "user" if "$distinct_id" in message else "group"


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
    users: int = 0  # user profile updates, beside the events
    groups: int = 0  # group profile updates

    @property
    def messages(self) -> int:
        """Events and updates: what CPU is counted per."""
        return self.events + self.users + self.groups

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
# Invocations with profile updates, one message per SQS body (after the events-only ones; only ours forwards
# updates): issue 11's mix, and each kind of update alone, which splits the mix's CPU by kind.
MIXED = "sqs_mixed"
_MIXES: tuple[tuple[str, str, dict[str, float]], ...] = (
    (MIXED, "SQS, mixed events and profile updates", MIX),
    ("sqs_users", "SQS, user updates only", {"user": 1.0}),
    ("sqs_groups", "SQS, group updates only", {"group": 1.0}),
)


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
    for name, label, shares in _MIXES:
        if names is not None and name not in names:
            continue
        counts = kind_counts(records, shares)
        payload = compact(_sqs_single(make_messages(records, shares))).encode()
        shapes.append(Shape(name, label, "sqs", records, counts["event"], payload, counts["user"], counts["group"]))
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
