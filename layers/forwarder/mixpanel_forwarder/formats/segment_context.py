"""Segment's `context` (what its libraries fill in about the device, app, page and campaign) as Mixpanel's properties,
following Segment's own Mixpanel (Actions) destination with Mixpanel's default names where the two differ (README,
"Segment spec")."""

from __future__ import annotations

from typing import Any

from .fields import country_code, group_ids

# context.<section>.<field> → Mixpanel's property (Mixpanel's default names where Segment's destination differs).
_CONTEXT = {
    "app": (
        ("name", "$app_name"),
        ("namespace", "$app_namespace"),
        ("build", "$app_build_number"),
        ("version", "$app_version_string"),
    ),
    "os": (("name", "$os"), ("version", "$os_version")),
    "device": (("manufacturer", "$manufacturer"), ("model", "$model"), ("name", "$device"), ("type", "$device_type")),
    "network": (
        ("carrier", "$carrier"),
        ("wifi", "$wifi"),
        ("bluetooth", "$bluetooth_enabled"),
        ("cellular", "$cellular_enabled"),
    ),
    "screen": (("width", "$screen_width"), ("height", "$screen_height"), ("density", "$screen_dpi")),
    "page": (("url", "$current_url"), ("referrer", "$referrer")),
    "library": (("name", "mp_lib"), ("version", "$lib_version")),
}
_CONTEXT_TOP = {"ip": "ip", "locale": "$locale", "timezone": "timezone", "groupId": "$group_id"}


def context_properties(context: Any) -> dict[str, Any]:
    """Segment's `context` as Mixpanel's properties (a country only when it is a two-letter code).

    A step per key the context holds, not per key the table knows: this runs once per message.
    """
    properties: dict[str, Any] = {}
    if type(context) is not dict:
        return properties
    for key, value in context.items():
        if value is None:
            continue
        pairs = _CONTEXT.get(key)
        if pairs is not None:
            if type(value) is dict:
                for field, target in pairs:
                    found = value.get(field)
                    if found is not None:
                        properties[target] = found
            continue
        top = _CONTEXT_TOP.get(key)
        if top is not None:
            properties[top] = value if key != "groupId" else group_ids(value)  # as the group call's $group_id
        elif key == "campaign" and type(value) is dict:
            for name, found in value.items():
                if found is not None:
                    properties["utm_campaign" if name == "name" else f"utm_{name}"] = found
        elif key == "location" and type(value) is dict:
            code = country_code(value.get("country"))
            if code is not None:
                properties["mp_country_code"] = code
    return properties
