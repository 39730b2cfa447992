"""Segment-spec messages, each fixed by an index: calls as Segment's libraries send them (analytics.js,
analytics-swift, analytics-node, analytics-python), and RudderStack's, which add fields of their own."""

from __future__ import annotations

import uuid
from typing import Any

from .common import T0_MS, fixed_uuid, iso_ms

SEGMENT_SOURCE_ID = "qU8t2YbVfN6cK4mWx1RzLe"  # the Segment source of the EventBridge partner event source
SEGMENT_EVENT_SOURCE = f"aws.partner/segment.com/{SEGMENT_SOURCE_ID}"
_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def event_ms(i: int) -> int:
    return T0_MS + i * 1000 + 123


def _hex(kind: str, i: int) -> str:
    return uuid.UUID(fixed_uuid(kind, i)).hex


def anonymous_id(i: int) -> str:
    """The anonymous (device) id a library gave visitor `i`."""
    return fixed_uuid("anonymous", i)


def _timestamps(i: int) -> dict[str, str]:
    """Segment's four times: when it happened on the client, was sent, was received, and `timestamp`, corrected for
    the client's clock (receivedAt − (sentAt − originalTimestamp))."""
    at = event_ms(i)
    return {
        "originalTimestamp": iso_ms(at),
        "receivedAt": iso_ms(at + 412),
        "sentAt": iso_ms(at + 268),
        "timestamp": iso_ms(at + 144),
    }


def _call(call: str, i: int, message_id: str, context: dict[str, Any], **fields: Any) -> dict[str, Any]:
    ids = {name: value for name, value in fields.items() if name in ("userId", "anonymousId") and value is not None}
    rest = {name: value for name, value in fields.items() if name not in ("userId", "anonymousId")}
    return {
        **ids,
        "context": context,
        "integrations": {},
        "messageId": message_id,
        **_timestamps(i),
        "type": call,
        **rest,
    }


def _web_context(i: int, path: str, title: str) -> dict[str, Any]:
    query = "?utm_source=google&utm_medium=cpc&utm_campaign=black-friday-2025"
    return {
        "campaign": {
            "name": "black-friday-2025",
            "source": "google",
            "medium": "cpc",
            "term": "trail running shoes",
            "content": "hero-banner",
        },
        "ip": f"203.0.113.{10 + i % 200}",
        "library": {"name": "analytics.js", "version": "npm:next-1.72.0"},
        "locale": "en-US",
        "page": {
            "path": path,
            "referrer": "https://www.google.com/",
            "search": query,
            "title": title,
            "url": f"https://shop.example.com{path}{query}",
        },
        "timezone": "America/New_York",
        "userAgent": _CHROME,
    }


def _ios_context(i: int) -> dict[str, Any]:
    return {
        "app": {"build": "1842", "name": "Trailhead", "namespace": "com.example.trailhead", "version": "4.12.0"},
        "device": {"id": fixed_uuid("ios-device", i).upper(), "manufacturer": "Apple", "model": "iPhone16,2"},
        "ip": f"198.51.100.{10 + i % 200}",
        "library": {"name": "analytics-swift", "version": "1.7.1"},
        "locale": "en-US",
        "network": {"bluetooth": False, "carrier": "T-Mobile", "cellular": False, "wifi": True},
        "os": {"name": "iOS", "version": "18.1.1"},
        "screen": {"density": 3, "height": 932, "width": 430},
        "timezone": "America/Los_Angeles",
    }


def _server_context(name: str, version: str) -> dict[str, Any]:
    return {"library": {"name": name, "version": version}}


def segment_calls(first: int) -> list[dict[str, Any]]:
    """One of each Segment call, indices `first`…`first + 5`: an anonymous visitor's page view, the same visitor's
    track once signed in, a screen from the iOS app, identify with special traits, a server's group and alias."""
    i = first
    visitor, user_id = anonymous_id(first), f"user-{first}"
    pricing = _web_context(i, "/pricing", "Pricing | Trailhead")
    product = _web_context(i + 1, "/products/trail-runner-2", "Trail Runner 2 | Trailhead")
    ajs = _hex("ajs-message", i)  # analytics.js ids ("ajs-next-" + 32 hex) are too long for Mixpanel's rule
    page_properties = {k: pricing["page"][k] for k in ("path", "referrer", "search", "title", "url")}
    return [
        _call(
            "page",
            i,
            f"ajs-next-{ajs}",
            pricing,
            anonymousId=visitor,
            name="Pricing",
            category="Docs",
            properties={**page_properties, "name": "Pricing", "category": "Docs"},
        ),
        _call(
            "track",
            i + 1,
            f"ajs-next-{_hex('ajs-message', i + 1)}",
            product,
            anonymousId=visitor,
            userId=user_id,
            event="Product Added",
            properties={
                "cart_id": f"cart-{i}",
                "product_id": "SKU-2217",
                "sku": "SKU-2217",
                "name": "Trail Runner 2",
                "price": 129.0,
                "quantity": 1,
                "currency": "USD",
            },
        ),
        _call(  # analytics-swift: an upper-case UUID, which Mixpanel takes as it is
            "screen",
            i + 2,
            fixed_uuid("swift-message", i + 2).upper(),
            _ios_context(i + 2),
            anonymousId=anonymous_id(i + 2),
            userId=user_id,
            name="Order Confirmation",
            properties={"order_id": f"order-{i}", "total": 129.0, "currency": "USD"},
        ),
        _call(
            "identify",
            i + 3,
            f"ajs-next-{_hex('ajs-message', i + 3)}",
            _web_context(i + 3, "/account", "Your account | Trailhead"),
            anonymousId=visitor,
            userId=user_id,
            traits={
                "email": f"dana.reyes+{i}@example.com",
                "firstName": "Dana",
                "lastName": "Reyes",
                "phone": "+1-415-555-0142",
                "username": f"dreyes{i}",
                "avatar": f"https://cdn.example.com/avatars/{user_id}.png",
                "createdAt": "2025-03-14T09:26:53.000Z",
                "plan": "growth",
                "newsletter": True,
            },
        ),
        _call(  # @segment/analytics-node: "node-next-<ms>-<uuid>"
            "group",
            i + 4,
            f"node-next-{event_ms(i + 4)}-{fixed_uuid('node-message', i + 4)}",
            _server_context("@segment/analytics-node", "2.1.3"),
            userId=user_id,
            groupId=f"company-{i}",
            traits={
                "name": "Acme Outdoor Co.",
                "industry": "Retail",
                "employees": 240,
                "plan": "enterprise",
                "website": "https://acme-outdoor.example.com",
                "createdAt": "2024-06-02T12:00:00.000Z",
            },
        ),
        _call(  # analytics-python: a uuid4 string
            "alias",
            i + 5,
            fixed_uuid("python-message", i + 5),
            _server_context("analytics-python", "2.3.3"),
            userId=user_id,
            previousId=visitor,
        ),
    ]


def rudderstack_messages(first: int) -> list[dict[str, Any]]:
    """RudderStack's Segment-spec messages with its own fields (channel, request_ip, rudderId, "<ms>-<uuid>" message
    ids): a web page view, a server-side track carrying the client's IP, an Android track, and a web identify, whose
    traits RudderStack's JavaScript SDK keeps in `context.traits`."""
    messages = []
    specs: list[tuple[str, str, dict[str, Any]]] = [
        ("page", "web", {"name": "Trail Runner 2", "category": "Products", "properties": {"path": "/p/trail"}}),
        (
            "track",
            "server",
            {"event": "Order Completed", "properties": {"order_id": f"order-{first + 1}", "revenue": 129.0}},
        ),
        ("track", "mobile", {"event": "Workout Started", "properties": {"activity": "trail run", "planned_km": 12}}),
        ("identify", "web", {}),
    ]
    for offset, (call, channel, fields) in enumerate(specs):
        i = first + offset
        libraries = {
            "web": ("RudderLabs JavaScript SDK", "3.11.9"),
            "server": ("analytics-node", "2.1.1"),
            "mobile": ("com.rudderstack.android.sdk.core", "1.25.1"),
        }
        name, version = libraries[channel]
        context: dict[str, Any] = {"library": {"name": name, "version": version}, "locale": "en-GB"}
        if channel == "web":
            context["page"] = {"url": "https://shop.example.com/p/trail", "referrer": "$direct"}
            context["userAgent"] = _CHROME
        if channel == "server":
            context["ip"] = "192.0.2.77"  # the backend passes its client's address on
        if channel == "mobile":
            context["app"] = {"name": "Trailhead", "namespace": "com.example.trailhead", "version": "4.12.0"}
            context["device"] = {"manufacturer": "Google", "model": "Pixel 8"}
            context["os"] = {"name": "Android", "version": "15"}
            context["screen"] = {"density": 420, "height": 2400, "width": 1080}
        if call == "identify":
            context["traits"] = {"email": f"sam.okafor+{i}@example.com", "firstName": "Sam", "lastName": "Okafor"}
        user = {"userId": f"user-{first}"} if offset else {}
        message = {
            "anonymousId": anonymous_id(first),
            **user,
            "channel": channel,
            "context": context,
            "integrations": {"All": True},
            "messageId": f"{event_ms(i)}-{fixed_uuid('rudder-message', i)}",
            **_timestamps(i),
            "request_ip": f"192.0.2.{10 + i % 200}",
            "rudderId": fixed_uuid("rudder-id", first),
            "type": call,
            **fields,
        }
        messages.append(message)
    return messages
