"""A user agent (Segment's `context.userAgent`) as the properties Mixpanel's JavaScript SDK derives from one:
`$browser`, `$browser_version`, `$os` and `$device` (docs/formats.md, "Segment spec").

Parsed by ua-parser with uap-core's rules (`ua-parser-builtins`; Apache-2.0, pure Python), imported on the first
message that has a user agent: a forwarder that never sees one never loads the ~1,300 rules (their compilation,
~0.1-0.2 s, is paid once per container, on that message). Results are cached by user agent, which repeat (a user
sends many messages from one browser): at most `CACHED` of them, each read to its first `MAX_CHARS` characters, so
the cache stays under a few MB whatever arrives.

Names are those Mixpanel's JavaScript SDK gives (`_.info.browser`, `.os`, `.device` in mixpanel-js `src/utils.js`)
where uap-core's differ ("Edge" is "Microsoft Edge", "Chrome Mobile" is "Chrome", an Ubuntu is "Linux"), else
uap-core's own. The version is the full dotted one, as both reference destinations send it ("79.0.3945.117").
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ua_parser import BasicResolver

CACHED = 4096
MAX_CHARS = 512  # the longest real user agents (in-app browsers) run to ~400 characters
Properties = tuple[tuple[str, str], ...]

# uap-core's browser names → mixpanel-js's, for the browsers mixpanel-js names otherwise.
_BROWSERS = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Chrome Mobile iOS": "Chrome iOS",
    "Edge": "Microsoft Edge",
    "Edge Mobile": "Microsoft Edge",
    "Firefox Mobile": "Firefox",
    "IE": "Internet Explorer",
    "IE Mobile": "Internet Explorer Mobile",
    "Facebook": "Facebook Mobile",
    "Opera Mobile": "Opera",
    "Whale": "Whale Browser",
    "Android": "Android Mobile",
    "BlackBerry WebKit": "BlackBerry",
    "Mobile Safari UI/WKWebView": "Mobile Safari",
}
# uap-core's systems → mixpanel-js's: it names every Linux "Linux".
_LINUXES = (
    "Ubuntu",
    "Kubuntu",
    "Lubuntu",
    "Linux Mint",
    "Debian",
    "Fedora",
    "Red Hat",
    "CentOS",
    "openSUSE",
    "SUSE",
    "Arch Linux",
    "Gentoo",
    "Slackware",
    "Mageia",
    "Mandriva",
    "PCLinuxOS",
)
_SYSTEMS = {"BlackBerry OS": "BlackBerry", **dict.fromkeys(_LINUXES, "Linux")}
# mixpanel-js's `$device`: the handheld kinds it tells apart, and none for a desktop.
_APPLE_DEVICES = {"iPhone": "iPhone", "iPad": "iPad", "iPod": "iPod Touch"}
_DEVICES_BY_SYSTEM = {"Android": "Android", "Windows Phone": "Windows Phone", "BlackBerry OS": "BlackBerry"}
_UNKNOWN = "Other"  # uap-core's name for what no rule matched


def properties(user_agent: object) -> Properties:
    """(name, value) pairs for the user agent: what it tells of `$browser`, `$browser_version`, `$os`, `$device`;
    none for a value that is no user agent (not a string, or empty)."""
    if type(user_agent) is not str or not user_agent:
        return ()
    return parsed(user_agent[:MAX_CHARS])


@functools.lru_cache(maxsize=CACHED)
def parsed(user_agent: str) -> Properties:
    """`properties` of a non-empty string of at most MAX_CHARS characters (the cache's keys)."""
    from ua_parser import Domain

    resolver = _resolver()
    result = resolver(user_agent, Domain.USER_AGENT | Domain.OS)
    found: list[tuple[str, str]] = []
    agent = result.user_agent
    if agent is not None and agent.family != _UNKNOWN:
        found.append(("$browser", _BROWSERS.get(agent.family, agent.family)))
        parts = (agent.major, agent.minor, agent.patch, agent.patch_minor)
        version = ".".join(part for part in parts if part is not None)
        if version:
            found.append(("$browser_version", version))
    system = result.os
    if system is not None and system.family != _UNKNOWN:
        found.append(("$os", _SYSTEMS.get(system.family, system.family)))
        if system.family == "iOS":  # the device rules, the most numerous, only to tell an iPhone from an iPad
            device = resolver(user_agent, Domain.DEVICE).device
            kind = _APPLE_DEVICES.get(device.family) if device is not None else None
        else:
            kind = _DEVICES_BY_SYSTEM.get(system.family)
        if kind is not None:
            found.append(("$device", kind))
    return tuple(found)


@functools.cache
def _resolver() -> BasicResolver:
    from ua_parser import BasicResolver, load_builtins

    return BasicResolver(load_builtins())
