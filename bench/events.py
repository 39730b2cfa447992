"""Seeded, varied Mixpanel events, as browsers, mobile SDKs and servers send them.

Copies of a few templates compress to almost nothing and flatter every codec; these events vary like
real traffic does (random ids, URLs, user agents, numbers), so they compress to ~20% at gzip level 6, as
production events do (16–21%), and JSON and gzip cost what they cost on a real invocation. Their shape
varies too (null values, lists, nested objects, string times, no `$insert_id`), so no one path of the
forwarder is all that is measured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.draws import base36, popular, token, uuid
from bench.vocabulary import (
    CAMPAIGNS,
    COUNTRIES,
    DEVICE_MODELS,
    EVENT_NAMES,
    EXPERIMENTS,
    HOSTS,
    LIBS,
    NULLABLE,
    PLANS,
    REFERRERS,
    SCREEN_HEIGHTS,
    SECTIONS,
    SEED,
    T0_S,
    USERS,
    UTM_SOURCES,
    WORDS,
)


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
    return "-".join(rng.sample(WORDS, rng.randint(1, 3))) + f"-{rng.randint(1, 9999)}"


def _url(rng: random.Random, host: str) -> str:
    path = f"/{rng.choice(SECTIONS)}/{_slug(rng)}"
    if rng.random() < 0.2:
        path += f"/{rng.choice(SECTIONS)}"
    query = []
    if rng.random() < 0.35:
        query.append(f"utm_source={rng.choice(UTM_SOURCES)}&utm_medium={rng.choice(('cpc', 'email', 'social'))}")
    if rng.random() < 0.2:
        query.append(f"q={'+'.join(rng.sample(WORDS, rng.randint(1, 3)))}")
    if rng.random() < 0.15:
        query.append(f"ref={rng.getrandbits(40):x}")
    return f"https://{host}{path}" + ("?" + "&".join(query) if query else "")


@dataclass(frozen=True)
class User:
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


def _make_user(rng: random.Random) -> User:
    ua, browser, os_name, browser_version, _ = _user_agent(rng)
    lib, lib_version = rng.choice(LIBS)
    device_id = uuid(rng)
    distinct_id = f"{rng.getrandbits(48):012x}" if rng.random() < 0.6 else f"$device:{device_id}"
    width = rng.choice(tuple(SCREEN_HEIGHTS))
    return User(
        distinct_id,
        device_id,
        ua,
        browser,
        os_name,
        browser_version,
        lib,
        lib_version,
        rng.choice(COUNTRIES),
        width,
        token(rng, 16),
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


def make_event(rng: random.Random, i: int, users: list[User]) -> dict[str, Any]:
    """One event of ~15 properties and ~550 bytes, as a browser, mobile SDK or server would send it.

    Users repeat across a batch (a few events per session), as in real traffic; everything else varies,
    shape included: times as numbers or strings, events without `$insert_id`, null values, lists of
    numbers and objects nested two or three levels deep (Mixpanel takes three) appear at the rates below.
    """
    user = popular(rng, users)
    seconds = T0_S - rng.randint(0, 86_400) + i // 10
    properties: dict[str, Any] = {
        "time": _time(rng, seconds, user.lib),
        "distinct_id": user.distinct_id,
        # mixpanel-js sends 16 base-36 characters; server-side producers often a UUID, or none (10%).
        "$insert_id": base36(rng, 16) if rng.random() < 0.7 else uuid(rng),
        "$device_id": user.device_id,
        "$browser": user.browser,
        "$browser_version": user.browser_version,
        "$os": user.os,
        "$current_url": _url(rng, rng.choice(HOSTS)),
        "$referrer": rng.choice(REFERRERS) if rng.random() < 0.85 else _url(rng, rng.choice(HOSTS)),
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
        screen = {"w": user.screen_width, "h": SCREEN_HEIGHTS[user.screen_width], "dpr": rng.choice((1, 2, 2, 3))}
        properties["device"] = {"model": rng.choice(DEVICE_MODELS), "screen": screen}
    if rng.random() < 0.45:
        properties["session_id"] = user.session_id
    if rng.random() < 0.1:
        properties["user_agent"] = user.user_agent
    if rng.random() < 0.15:
        properties["ip"] = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if rng.random() < 0.15:  # campaign attribution as an object (depth 2: utm.source)
        properties["utm"] = {
            "source": rng.choice(UTM_SOURCES),
            "medium": rng.choice(("cpc", "email", "social")),
            "campaign": rng.choice(CAMPAIGNS),
        }
    if rng.random() < 0.05:  # three levels of objects, the most Mixpanel takes
        flags = {"new_ui": rng.random() < 0.5, "one_click": rng.random() < 0.5}
        variant = {"variant": rng.choice("abc"), "flags": flags}
        properties["experiments"] = {rng.choice(EXPERIMENTS): variant}
    if rng.random() < 0.15:
        name, numbers = _numbers(rng)
        properties[name] = numbers
    if rng.random() < 0.2:  # optional properties sent as null rather than left out
        for name in rng.sample(NULLABLE, rng.randint(1, 2)):
            properties[name] = None
    if rng.random() < 0.25:  # commerce events carry a small list of line items
        lines = [
            (rng.randint(1000, 99999), rng.randint(1, 4), rng.randint(199, 25000)) for _ in range(rng.randint(1, 3))
        ]
        properties["items"] = [{"sku": f"SKU-{sku}", "qty": qty, "price": cents / 100} for sku, qty, cents in lines]
        properties["amount"] = sum(qty * cents for _, qty, cents in lines) / 100
    else:
        properties["load_ms"] = rng.randint(80, 4500)
        properties["plan"] = rng.choice(PLANS)
    return {"event": rng.choice(EVENT_NAMES), "properties": properties}


def make_users(rng: random.Random) -> list[User]:
    """The users behind one data set, the first draws from `rng`: `updates.make_messages` draws them again from the
    same seed, so its updates are about the users its events come from."""
    return [_make_user(rng) for _ in range(USERS)]


def make_events(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`n` events; the same seed gives the same events, and a longer list starts with the shorter one."""
    rng = random.Random(seed)
    users = make_users(rng)
    return [make_event(rng, i, users) for i in range(n)]
