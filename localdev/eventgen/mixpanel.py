"""Realistic Mixpanel events, as a web shop's client would send them, each fixed by an index."""

from __future__ import annotations

from typing import Any

from .common import T0_S, fixed_uuid

_EVENT_NAMES = ("Page Viewed", "Product Viewed", "Added To Cart", "Checkout Started", "Order Completed", "Signed Up")
_BROWSERS = (("Chrome", 131), ("Safari", 18), ("Firefox", 133), ("Edge", 131))
_OSES = ("Mac OS X", "Windows", "iOS", "Android", "Linux")
_PAGES = ("/", "/pricing", "/products/trail-runner-2", "/cart", "/checkout", "/signup")
_REFERRERS = ("https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/", "$direct")
_PLANS = ("free", "starter", "growth", "enterprise")
_UTM = (("google", "black-friday-2025"), ("newsletter", "nov-digest"), ("twitter", "launch-week"), ("direct", ""))
_SKUS = ("SKU-1042", "SKU-2217", "SKU-3090", "SKU-4451", "SKU-5173")


def sample_event(
    i: int, *, time_s: int = T0_S, distinct_id: str | None = None, insert_id: bool = True
) -> dict[str, Any]:
    """A realistic Mixpanel event (15 properties, ~500 bytes of JSON), fixed by `i`."""
    browser, version = _BROWSERS[i % len(_BROWSERS)]
    page = _PAGES[i % len(_PAGES)]
    utm_source, utm_campaign = _UTM[i % len(_UTM)]
    lines = [(_SKUS[(i + n) % len(_SKUS)], 1 + (i + n) % 2, 999 + 500 * ((i + n) % 7)) for n in range(1 + i % 3)]
    items = [{"sku": sku, "quantity": quantity, "price": cents / 100} for sku, quantity, cents in lines]
    amount = sum(quantity * cents for _, quantity, cents in lines) / 100
    properties: dict[str, Any] = {
        "time": time_s + i,
        "distinct_id": distinct_id if distinct_id is not None else f"user-{i % 97}",
    }
    if insert_id:
        properties["$insert_id"] = fixed_uuid("event", i)
    properties.update(
        {
            "$browser": browser,
            "$browser_version": version,
            "$os": _OSES[i % len(_OSES)],
            "$current_url": f"https://shop.example.com{page}?utm_source={utm_source}",
            "$referrer": _REFERRERS[i % len(_REFERRERS)],
            "$screen_width": (1440, 1920, 390, 412)[i % 4],
            "plan": _PLANS[i % len(_PLANS)],
            "amount": amount,
            "currency": "USD",
            "items": items,
            "utm_source": utm_source,
            "utm_campaign": utm_campaign,
        }
    )
    return {"event": _EVENT_NAMES[i % len(_EVENT_NAMES)], "properties": properties}
