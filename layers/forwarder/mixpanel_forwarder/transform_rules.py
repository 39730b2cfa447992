"""The TRANSFORMS setting: a JSON object of rules, read once and checked whole, so a rule that cannot work fails the
invocation at start (naming TRANSFORMS and the key) instead of being applied halfway.

    {"drop_events": ["Heartbeat", "debug *"], "keep_events": [], "rename_events": {"signup": "Sign Up"},
     "drop_properties": ["password"], "rename_properties": {"userEmail": "$email"},
     "hash_properties": ["$email", "phone"], "add_properties": {"pipeline": "kinesis-prod"}}

`transforms.py` applies them, in this order. Event names match exactly or by `*` (any run of characters), in time
linear in the name's length whatever the pattern. `add_properties` must hold values every event can carry. What
`hash_properties` hashes must not leave it in the clear: renamed away to a name it does not hash, or added after it.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from . import codec
from .errors import ConfigError, Invalid
from .limits import MAX_EVENT_BYTES
from .model import Item
from .normalize import normalize

TRANSFORMS = "TRANSFORMS"
TRANSFORM_HASH_KEY = "TRANSFORM_HASH_KEY"
MIN_HASH_KEY_CHARS = 16  # a short key would let a dictionary of emails be hashed and matched again

# The fields that carry who a message is about: events' (with the identity events' `$anon_id`, `$identified_id` and
# `$merge`'s `$distinct_ids`; `$create_alias`'s `alias` too) and user updates' `$distinct_id`. Naming one in
# hash_properties hashes them all (transforms.py).
EVENT_IDS = ("distinct_id", "$user_id", "$device_id", "$anon_id", "$identified_id", "$distinct_ids")
IDENTITY_FIELDS = frozenset((*EVENT_IDS, "$distinct_id"))

RULES = (
    "drop_events",
    "keep_events",
    "rename_events",
    "drop_properties",
    "rename_properties",
    "hash_properties",
    "add_properties",
)


class NameMatcher:
    """Event names: those given whole, the starts and ends of those with one `*` at an end (one string test each),
    and the others with `*` as their parts between stars (`_glob_match`). No regular expression: a backtracking one
    for `*a*a*b` takes time growing with a power of the name's length, and the names come from the stream."""

    __slots__ = ("exact", "globs", "prefixes", "suffixes")

    def __init__(
        self,
        exact: frozenset[str],
        prefixes: tuple[str, ...],
        suffixes: tuple[str, ...],
        globs: tuple[tuple[str, ...], ...],
    ) -> None:
        self.exact = exact
        self.prefixes = prefixes
        self.suffixes = suffixes
        self.globs = globs

    def __call__(self, name: str) -> bool:
        return (
            name in self.exact
            or (self.prefixes != () and name.startswith(self.prefixes))
            or (self.suffixes != () and name.endswith(self.suffixes))
            or (self.globs != () and any(_glob_match(parts, name) for parts in self.globs))
        )

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes or self.suffixes or self.globs)


def _glob_match(parts: tuple[str, ...], name: str) -> bool:
    """Whether `name` matches a pattern split at its `*`s (two parts or more): the first part starts the name, the
    last ends it, and each middle one comes after the one before, between them. Taking each middle part at its
    leftmost place is never wrong (a `*` takes any run, so the earliest place leaves the most room for the rest):
    one `str.find` per part, no backtracking, time linear in the name's length."""
    first, last = parts[0], parts[-1]
    end = len(name) - len(last)
    if end < len(first) or not name.startswith(first) or not name.endswith(last):
        return False
    at = len(first)
    for part in parts[1:-1]:
        found = name.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True


class TransformRules(NamedTuple):
    """The rules as read. Property names are top-level names; one holding a dot is also a path into nested objects
    (`context.ip`) for dropping and hashing, used when no top-level property has that exact name."""

    drop_events: NameMatcher
    keep_events: NameMatcher
    rename_events: dict[str, str]
    drop_properties: frozenset[str]
    rename_properties: dict[str, str]
    hash_properties: tuple[str, ...]
    add_properties: dict[str, Any]

    @property
    def needs_hash_key(self) -> bool:
        return bool(self.hash_properties)

    @property
    def hashes_identity(self) -> bool:
        return not IDENTITY_FIELDS.isdisjoint(self.hash_properties)

    def hashed(self) -> tuple[str, ...]:
        """The property names hashed: those named, and every identity field when one of them is."""
        if not self.hashes_identity:
            return self.hash_properties
        return tuple(dict.fromkeys((*self.hash_properties, *sorted(IDENTITY_FIELDS))))


def read_rules(text: str | None) -> TransformRules | None:
    """The rules in `text` (the TRANSFORMS variable), None when there are none; ConfigError naming the key if not."""
    if text is None:
        return None
    try:
        # An integer beyond 64 bits in add_properties is read as it is, and refused; a key given twice is refused too.
        value = codec.loads_exact(text, _unique_keys)
    except ValueError:
        raise ConfigError(TRANSFORMS, "is not valid JSON: it must be a JSON object of rules") from None
    except _GivenTwice as twice:
        raise ConfigError(
            TRANSFORMS,
            f"{twice.key!r} is given twice in one object: a JSON reader keeps the last, which may not be the one "
            "meant (a second hash_properties would silently replace the first)",
        ) from None
    if type(value) is not dict:
        raise ConfigError(TRANSFORMS, f"must be a JSON object of rules ({', '.join(RULES)})")
    for key in value:
        if key not in RULES:
            raise ConfigError(TRANSFORMS, f"{key!r} is not a rule; the rules are {', '.join(RULES)}")
    rules = TransformRules(
        drop_events=_matcher(value, "drop_events"),
        keep_events=_matcher(value, "keep_events"),
        rename_events=_renames(value, "rename_events"),
        drop_properties=frozenset(_names(value, "drop_properties")),
        rename_properties=_renames(value, "rename_properties"),
        hash_properties=tuple(dict.fromkeys(_names(value, "hash_properties"))),
        add_properties=_added(value),
    )
    if rules.hash_properties:
        _check_nothing_hashed_goes_in_the_clear(rules)
    return rules if any(rules) else None


def _check_nothing_hashed_goes_in_the_clear(rules: TransformRules) -> None:
    """A hashed value must not be renamed to a name hash_properties does not hash (it hashes the new names), nor
    set by add_properties (applied after hashing): either would send it in the clear, and an added identity would
    never meet its profile, whose hashed $distinct_id it is not."""
    hashed = rules.hashed()
    for old, new in rules.rename_properties.items():
        for name in hashed:
            if name == old or name.startswith(old + "."):  # the property, or a path through it
                renamed = new + name[len(old) :]
                if renamed not in hashed:
                    raise ConfigError(
                        TRANSFORMS,
                        f"rename_properties.{old}: renames {name!r}, which hash_properties hashes, to {renamed!r}, "
                        f"which it does not (it sees the new names): the value would be sent in the clear; "
                        f"name {renamed!r} in hash_properties",
                    )
    for added in rules.add_properties:
        named = next((name for name in hashed if name == added or name.startswith(added + ".")), None)
        if named is not None:
            raise ConfigError(
                TRANSFORMS,
                f"add_properties.{added}: sets {named!r}, which hash_properties hashes, after hashing: the value "
                "would be sent in the clear",
            )


class _GivenTwice(Exception):  # not a ValueError: the JSON reader would say only "not valid JSON"
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _GivenTwice(key)
        found[key] = value
    return found


def hash_key_error(problem: str) -> ConfigError:
    """The error for a missing or weak key, naming where a key goes."""
    return ConfigError(
        TRANSFORMS,
        f"hash_properties needs a key: {problem}; put a random string of at least {MIN_HASH_KEY_CHARS} characters "
        f'in the credentials secret as "hash_key" (or in {TRANSFORM_HASH_KEY} for local runs)',
    )


def _names(value: dict[str, Any], rule: str) -> list[str]:
    names = value.get(rule, [])
    if type(names) is not list or any(type(name) is not str or not name for name in names):
        raise ConfigError(TRANSFORMS, f"{rule} must be a list of non-empty strings")
    return names


def _renames(value: dict[str, Any], rule: str) -> dict[str, str]:
    renames = _object(value, rule)
    for old, new in renames.items():
        if type(new) is not str or not new.strip() or not old:
            raise ConfigError(TRANSFORMS, f"{rule} must map names to new non-empty names; {old!r} does not")
    return renames


def _object(value: dict[str, Any], rule: str) -> dict[str, Any]:
    found = value.get(rule, {})
    if type(found) is not dict:
        raise ConfigError(TRANSFORMS, f"{rule} must be a JSON object")
    return found


def _matcher(value: dict[str, Any], rule: str) -> NameMatcher:
    names = _names(value, rule)
    exact = frozenset(name for name in names if "*" not in name)
    prefixes, suffixes, globs = [], [], []
    for name in names:
        stars = name.count("*")
        if stars == 1 and name.endswith("*"):
            prefixes.append(name[:-1])
        elif stars == 1 and name.startswith("*"):
            suffixes.append(name[1:])
        elif stars:
            first, *middle, last = name.split("*")
            globs.append((first, *(part for part in middle if part), last))  # `**` is `*`
    return NameMatcher(exact, tuple(prefixes), tuple(suffixes), tuple(globs))


def _added(value: dict[str, Any]) -> dict[str, Any]:
    """`add_properties`, refused here when a value would have every event refused, or make Mixpanel misread them
    all: the values are checked by the checks events get (`normalize`), on an event holding them and nothing else."""
    added = _object(value, "add_properties")
    if not added:
        return added
    if "$insert_id" in added:
        raise ConfigError(
            TRANSFORMS,
            "add_properties.$insert_id: one $insert_id on every event would have Mixpanel deduplicate them all into "
            "one; leave it out (each event keeps its own, or gets one derived from where it came from)",
        )
    now_ms = int(time.time() * 1000)
    probe = {"event": "add_properties", "properties": {"time": now_ms, **added}}
    try:
        size = len(codec.dumps(normalize(Item(probe, "add_properties", now_ms), now_ms, exact=True)))
    except Invalid as exc:  # a path in the probe's properties is the same path in add_properties
        field = "add_properties" + exc.field.removeprefix("properties")
        raise ConfigError(TRANSFORMS, f"{field}: {exc.message} (every event would be refused for it)") from None
    if size >= MAX_EVENT_BYTES:
        raise ConfigError(
            TRANSFORMS,
            f"add_properties: an event carrying them alone is {size} bytes, over Mixpanel's 1 MiB per event "
            "(every event would be refused for it)",
        )
    if "ip" in added and not _usable_ip(added["ip"]):
        raise ConfigError(
            TRANSFORMS,
            'add_properties.ip: must be an IP address (a string such as "203.0.113.7"), or 0 for no '
            "geolocation: Mixpanel geolocates each event by it",
        )
    return added


def _usable_ip(value: Any) -> bool:
    if type(value) is not str:
        return type(value) is int and value == 0
    if value == "0":
        return True
    import ipaddress  # only for this rare rule: cold start is paid by everyone

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
