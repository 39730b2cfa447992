"""Segment's `context` (what its libraries fill in about the device, app, page, place and campaign) as Mixpanel's
properties: an event's, following Segment's own Mixpanel (Actions) destination with Mixpanel's default names where
the two differ, and a user profile's on identify, following RudderStack's destination (docs/formats.md, "Segment spec").

A null or an empty string is no value: RudderStack's destination drops both for every field it maps, as Mixpanel's
JavaScript SDK strips empty properties.
"""

from __future__ import annotations

from typing import Any

from . import user_agent
from .fields import copy_filled, country_code, group_ids

# context.<section>.<field> → the event's property (Mixpanel's default names where Segment's destination differs).
# The page's first-touch referrer is RudderStack's JavaScript SDK's, spelt either way (snake case wins on both).
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
    "page": (
        ("url", "$current_url"),
        ("referrer", "$referrer"),
        ("initialReferrer", "$initial_referrer"),
        ("initial_referrer", "$initial_referrer"),
        ("initialReferringDomain", "$initial_referring_domain"),
        ("initial_referring_domain", "$initial_referring_domain"),
    ),
    "library": (("name", "mp_lib"), ("version", "$lib_version")),
}
_LOCATION = (("city", "$city"), ("region", "$region"), ("latitude", "$latitude"), ("longitude", "$longitude"))
_CONTEXT_TOP = {"ip": "ip", "locale": "$locale", "timezone": "timezone", "groupId": "$group_id"}

# What RudderStack's identify sets from the context (its MPIdentifyConfig.json), under the same names.
_PROFILE = (
    ("network", (("carrier", "$carrier"), ("wifi", "$wifi"))),
    ("device", (("manufacturer", "$manufacturer"), ("model", "$model"))),
    ("screen", (("height", "$screen_height"), ("width", "$screen_width"))),
    ("page", _CONTEXT["page"][2:]),
    ("location", (("city", "$city"), ("region", "$region"), ("timezone", "$timezone"))),
)
# And by the device's family (MPProfilePropertiesIOS.json, MPProfilePropertiesAndroid.json): (section, field, name).
# Their `$os` is set for every identify here, and what they read from an identify's `properties` is not read.
_IOS = (
    ("device", "model", "$ios_device_model"),
    ("os", "version", "$ios_version"),
    ("app", "version", "$ios_app_release"),
    ("app", "build", "$ios_app_version"),
)
_ANDROID = (
    ("device", "model", "$android_model"),
    ("os", "version", "$android_os_version"),
    ("device", "manufacturer", "$android_manufacturer"),
    ("app", "version", "$android_app_version"),
    ("app", "build", "$android_app_version_code"),
    ("device", "manufacturer", "$android_brand"),
)
APPLE_FAMILY = frozenset({"ios", "ipados", "watchos", "tvos"})  # RudderStack's `isAppleFamily`
PUSH_TOKENS = {"ios": "$ios_devices", "android": "$android_devices"}


def context_properties(context: Any) -> dict[str, Any]:
    """Segment's `context` as an event's properties (a country only when it is a two-letter code); what the user
    agent tells where the context does not say it.

    A step per key the context holds, not per key the table knows: this runs once per message.
    """
    properties: dict[str, Any] = {}
    if type(context) is not dict:
        return properties
    agent = None
    for key, value in context.items():
        pairs = _CONTEXT.get(key)
        if pairs is not None:
            if type(value) is dict:
                for field, target in pairs:
                    found = value.get(field)
                    if found or (found is not None and found != ""):  # most values are truthy: one test
                        properties[target] = found
            continue
        if value is None or value == "":
            continue
        top = _CONTEXT_TOP.get(key)
        if top is not None:
            properties[top] = value if key != "groupId" else group_ids(value)  # as the group call's $group_id
        elif key == "userAgent" and type(value) is str:
            agent = value
        elif type(value) is not dict:
            if key == "sessionId":
                properties["$session_id"] = session_id(value)
        elif key == "campaign":
            for name, found in value.items():
                if found or (found is not None and found != ""):
                    properties["utm_campaign" if name == "name" else f"utm_{name}"] = found
        elif key == "location":
            for field, target in _LOCATION:
                found = value.get(field)
                if found or (found is not None and found != ""):
                    properties[target] = found
            code = country_code(value.get("country"))
            if code is not None:
                properties["mp_country_code"] = code
    if agent is not None:  # the cache's look-up straight from here: a call less per message with one
        for name, found in user_agent.parsed(agent[: user_agent.MAX_CHARS]):
            if name not in properties:
                properties[name] = found
    return properties


def session_id(value: Any) -> Any:
    """RudderStack's session id as its destination sends `$session_id`: a string (its SDKs send a number)."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float and value.is_integer():
        return str(int(value))
    return value


def profile_properties(context: Any) -> dict[str, Any]:
    """What an identify's `context` says of the user, as RudderStack's destination sets it on the profile: place,
    network, device, screen, first-touch referrer and, for an iOS or Android device, Mixpanel's properties of
    those; `$os`, `$browser`, `$browser_version` as Mixpanel's JavaScript SDK sets them on a profile. Latitude,
    longitude and push tokens are not among them: they do not go in a `$set` (`profile_place`, `push_token`)."""
    properties: dict[str, Any] = {}
    if type(context) is not dict:
        return properties
    for section, pairs in _PROFILE:
        copy_filled(context.get(section), pairs, properties)
    location = context.get("location")
    if type(location) is dict:
        code = country_code(location.get("country"))
        if code is not None:
            properties["$country_code"] = code
    if "$timezone" not in properties:
        copy_filled(context, (("timezone", "$timezone"),), properties)
    device = context.get("device")
    family = device.get("type") if type(device) is dict else None
    family = family.lower() if type(family) is str else None
    for section, field, name in _IOS if family in APPLE_FAMILY else _ANDROID if family == "android" else ():
        copy_filled(context.get(section), ((field, name),), properties)
    copy_filled(context.get("os"), (("name", "$os"),), properties)
    for name, found in user_agent.properties(context.get("userAgent")):
        if name != "$device" and name not in properties:
            properties[name] = found
    return properties


def profile_place(context: Any) -> dict[str, Any]:
    """`$latitude`, `$longitude` of `context.location`: beside the profile update's operation, where Mixpanel
    reads them ("outside of the `$set` dictionary")."""
    place: dict[str, Any] = {}
    if type(context) is dict:
        copy_filled(context.get("location"), (("latitude", "$latitude"), ("longitude", "$longitude")), place)
    return place


def push_token(context: Any) -> tuple[str, Any] | None:
    """(`$ios_devices` or `$android_devices`, the token) for `context.device.token` of an iOS or Android device."""
    device = context.get("device") if type(context) is dict else None
    if type(device) is not dict:
        return None
    token, family = device.get("token"), device.get("type")
    if token is None or token == "" or type(family) is not str:
        return None
    family = family.lower()
    kind = "ios" if family in APPLE_FAMILY else family
    return (PUSH_TOKENS[kind], token) if kind in PUSH_TOKENS else None
