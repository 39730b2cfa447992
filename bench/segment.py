"""Seeded, varied Segment-spec `track` messages (issue 12), as Segment's Kinesis, Firehose and EventBridge
destinations (and RudderStack's) deliver them: the whole message, with the `context` the library filled in.

They are about the same users as the Mixpanel events (`bench.events.make_users`, same seed), drawn from the same
word lists, so the two cases differ by their shape, not by their data. Libraries as Segment's own send them:
analytics.js in browsers (`messageId` "ajs-next-<ms>-<uuid>", 59 characters: the forwarder derives an `$insert_id`
from it), analytics-ios / -android (an uppercase UUID, taken as it is) and server libraries (a lowercase UUID, or
a short id of their own).
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.draws import base36, popular, uuid
from bench.events import User, make_users
from bench.vocabulary import (
    CAMPAIGNS,
    COUNTRIES,
    EVENT_NAMES,
    HOSTS,
    LANGUAGES,
    PLANS,
    REFERRERS,
    SCREEN_HEIGHTS,
    SECTIONS,
    SEED,
    T0_S,
    TIMEZONES,
    UTM_SOURCES,
    WORDS,
)

# Segment's libraries by the Mixpanel library the same user's events come from (bench.vocabulary.LIBS).
_LIBRARIES = {
    "web": ("analytics.js", "next-1.70.0"),
    "iphone": ("analytics-ios", "4.1.8"),
    "android": ("analytics-android", "4.11.3"),
    "python": ("analytics-python", "2.3.2"),
}
_OS = {"iphone": ("iOS", ("16.7.2", "17.1.1", "17.4", "18.0.1")), "android": ("Android", ("12", "13", "14", "15"))}
_DEVICES = {  # manufacturer, models, screen (points) and density
    "iphone": ("Apple", ("iPhone15,2", "iPhone16,1", "iPhone14,7"), (393, 852, 3)),
    "android": ("Google", ("Pixel 8", "Pixel 7a", "SM-S918B"), (412, 915, 2.625)),
}
_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD")
_SHIPPING = ("standard", "express", "pickup", "next-day")


def _iso(milliseconds: int) -> str:
    """ISO-8601 in UTC with milliseconds and `Z`, as every Segment library writes its times."""
    moment = datetime.fromtimestamp(milliseconds // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{milliseconds % 1000:03d}Z"


def _message_id(rng: random.Random, lib: str, sent_ms: int) -> str:
    if lib == "web":
        return f"ajs-next-{sent_ms}-{uuid(rng)}"  # 59 characters: over Mixpanel's 36, so derived
    if lib in ("iphone", "android"):
        return uuid(rng).upper()
    return uuid(rng) if rng.random() < 0.8 else f"srv-{base36(rng, 12)}"


def _page(rng: random.Random) -> dict[str, Any]:
    host, section = rng.choice(HOSTS), rng.choice(SECTIONS)
    slug = "-".join(rng.sample(WORDS, rng.randint(1, 3))) + f"-{rng.randint(1, 9999)}"
    path = f"/{section}/{slug}"
    search = f"?utm_source={rng.choice(UTM_SOURCES)}" if rng.random() < 0.3 else ""
    referrer = rng.choice(REFERRERS)
    return {
        "path": path,
        "referrer": "" if referrer == "$direct" else referrer,
        "search": search,
        "title": f"{slug.replace('-', ' ').title()} | Example",
        "url": f"https://{host}{path}{search}",
    }


def _context(rng: random.Random, user: User) -> dict[str, Any]:
    """What the library fills in: ip, library, locale, timezone, and the page (web) or the app, OS and device
    (mobile); a server library sends what the back end passes on (ip, userAgent, locale)."""
    name, version = _LIBRARIES.get(user.lib, _LIBRARIES["python"])
    ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    context: dict[str, Any] = {"ip": ip, "library": {"name": name, "version": version}}
    if user.lib == "web":
        context["page"] = _page(rng)
        context["userAgent"] = user.user_agent
        context["screen"] = {"width": user.screen_width, "height": SCREEN_HEIGHTS[user.screen_width]}
    elif user.lib in _OS:
        os_name, versions = _OS[user.lib]
        context["app"] = {
            "name": "Example Shop",
            "version": f"5.{rng.randint(0, 12)}.{rng.randint(0, 9)}",
            "build": str(rng.randint(1200, 1600)),
            "namespace": "com.example.shop",
        }
        context["os"] = {"name": os_name, "version": rng.choice(versions)}
        manufacturer, models, (width, height, density) = _DEVICES[user.lib]
        context["device"] = {
            "id": user.device_id,
            "manufacturer": manufacturer,
            "model": rng.choice(models),
            "type": os_name.lower(),
        }
        context["screen"] = {"width": width, "height": height, "density": density}
        context["network"] = {"wifi": rng.random() < 0.6, "cellular": rng.random() < 0.5, "carrier": "T-Mobile"}
    elif rng.random() < 0.5:
        context["userAgent"] = user.user_agent
    if rng.random() < 0.2:
        context["campaign"] = {
            "name": rng.choice(CAMPAIGNS),
            "source": rng.choice(UTM_SOURCES),
            "medium": rng.choice(("cpc", "email", "social")),
        }
    context["locale"] = rng.choice(LANGUAGES)
    context["timezone"] = rng.choice(TIMEZONES)
    if rng.random() < 0.3:
        context["location"] = {"country": user.country}
    return context


def _product(rng: random.Random) -> dict[str, Any]:
    sku = rng.randint(1000, 99999)
    return {
        "product_id": f"{sku}",
        "sku": f"SKU-{sku}",
        "name": " ".join(rng.sample(WORDS, rng.randint(2, 3))).title(),
        "price": rng.randint(199, 25000) / 100,
        "quantity": rng.randint(1, 4),
        "category": rng.choice(SECTIONS),
    }


def _properties(rng: random.Random, name: str) -> dict[str, Any]:
    """10 to 15 properties, Segment's e-commerce spec for the shop's events, plain facts for the others."""
    properties: dict[str, Any] = {}
    if name in ("Order Completed", "Checkout Started", "Payment Info Entered"):
        products = [_product(rng) for _ in range(rng.randint(1, 3))]
        revenue = round(sum(p["price"] * p["quantity"] for p in products), 2)
        properties |= {
            "order_id": f"{rng.getrandbits(40):010x}",
            "checkout_id": base36(rng, 12),
            "affiliation": "Example Shop",
            "total": round(revenue * 1.08, 2),
            "revenue": revenue,
            "shipping": rng.randint(0, 1500) / 100,
            "tax": round(revenue * 0.08, 2),
            "discount": rng.choice((0, 0, 5, 10)),
            "coupon": rng.choice(CAMPAIGNS) if rng.random() < 0.2 else None,
            "currency": rng.choice(_CURRENCIES),
            "products": products,
        }
    elif name in ("Product Viewed", "Added To Cart", "Removed From Cart"):
        properties |= _product(rng)
        properties |= {"brand": "Example", "variant": rng.choice(("black", "navy", "olive")), "currency": "USD"}
        properties["url"] = f"https://{rng.choice(HOSTS)}/products/{properties['sku'].lower()}"
        properties["position"] = rng.randint(1, 24)
    else:
        properties |= {
            "section": rng.choice(SECTIONS),
            "label": " ".join(rng.sample(WORDS, rng.randint(1, 3))),
            "value": rng.randint(0, 5000),
            "plan": rng.choice(PLANS),
            "query": "+".join(rng.sample(WORDS, rng.randint(1, 3))) if name == "Product Searched" else None,
            "duration_ms": rng.randint(40, 9000),
            "experiment": rng.choice(("control", "variant_a", "variant_b")),
            "first_time": rng.random() < 0.2,
        }
    properties["shipping_method"] = rng.choice(_SHIPPING) if "order_id" in properties else None
    properties["country"] = rng.choice(COUNTRIES)
    properties["session_id"] = f"{rng.getrandbits(48):012x}"
    return properties


def make_track(rng: random.Random, i: int, users: list[User]) -> dict[str, Any]:
    """One `track` call as the destination delivers it: ids, the four times, properties and context."""
    user = popular(rng, users)
    identified = not user.distinct_id.startswith("$device:")
    original_ms = (T0_S - rng.randint(0, 86_400) + i // 10) * 1000 + rng.randint(0, 999)
    sent_ms = original_ms + rng.randint(5, 4000)  # batched by the library, then sent
    received_ms = sent_ms + rng.randint(20, 900)
    name = rng.choice(EVENT_NAMES)
    message: dict[str, Any] = {
        "type": "track",
        "event": name,
        "userId": user.distinct_id if identified else None,
        "anonymousId": user.device_id,
        "messageId": _message_id(rng, user.lib, sent_ms),
        # Segment's own: receivedAt corrected by the client's clock skew (sentAt against receivedAt).
        "timestamp": _iso(received_ms - (sent_ms - original_ms)),
        "originalTimestamp": _iso(original_ms),
        "sentAt": _iso(sent_ms),
        "receivedAt": _iso(received_ms),
        "properties": _properties(rng, name),
        "context": _context(rng, user),
        "integrations": {},
        "channel": "client" if user.lib != "python" else "server",
        "version": 2,
    }
    if not identified and rng.random() < 0.5:
        del message["userId"]  # anonymous: analytics.js sends null, server libraries leave it out
    return message


def make_tracks(n: int, seed: int = SEED, *, user_agents: bool = False) -> list[dict[str, Any]]:
    """`n` track calls, about the users `bench.events.make_events(seed=seed)` is about; with `user_agents`, every
    one carries its user's browser's user agent (which only web and some server messages do otherwise): the case
    that parses them (issue 21). The same calls either way, but for that."""
    rng = random.Random(seed)
    users = make_users(rng)
    tracks = [make_track(rng, i, users) for i in range(n)]
    if user_agents:
        agents = {user.device_id: user.user_agent for user in users}
        for track in tracks:
            track["context"].setdefault("userAgent", agents[track["anonymousId"]])
    return tracks


def as_mixpanel(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events Mixpanel receives for `tracks`, in Mixpanel's shape: what the forwarder sends for them, by its own
    Segment mapping run once here, untimed. Forwarded as they are, they cost what the same events cost on the plain
    path, so the two cases differ by the format alone."""
    from mixpanel_forwarder.messages import MessageRules, Routed, route_item
    from mixpanel_forwarder.model import Item

    rules = MessageRules(int(time.time() * 1000), None)
    events = []
    for index, track in enumerate(tracks):
        (outcome,) = route_item(Item(track, f"bench:{index}", None), rules)
        assert type(outcome) is Routed, f"track {index} was not mapped: {outcome}"
        events.append(orjson.loads(outcome.body))
    return events


def distinct_agents(tracks: list[dict[str, Any]]) -> int:
    """How many user agents the tracks carry, each counted once: the parses a container's cache leaves to do."""
    return len({t["context"].get("userAgent") for t in tracks} - {None})


def track_stats(tracks: list[dict[str, Any]]) -> dict[str, float]:
    """What the track messages are like, for the report: size, properties, and the shares of each variety."""
    n = len(tracks)
    return {
        "mean bytes": sum(len(json.dumps(t, separators=(",", ":"))) for t in tracks) / n,
        "mean properties": sum(len(t["properties"]) for t in tracks) / n,
        "anonymous (no userId)": sum(t.get("userId") is None for t in tracks) / n,
        "messageId over 36 characters (insert id derived)": sum(len(t["messageId"]) > 36 for t in tracks) / n,
        "web (page, userAgent)": sum("page" in t["context"] for t in tracks) / n,
        "with userAgent": sum("userAgent" in t["context"] for t in tracks) / n,
        "mobile (app, os, device)": sum("app" in t["context"] for t in tracks) / n,
        "with campaign": sum("campaign" in t["context"] for t in tracks) / n,
        "with products list": sum("products" in t["properties"] for t in tracks) / n,
    }
