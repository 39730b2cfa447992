"""The TRANSFORMS setting: a JSON object of rules, read once and checked whole, so a rule that cannot work fails the
invocation at start (naming TRANSFORMS and the key) instead of being applied halfway.

    {"drop_events": ["Heartbeat", "debug *"], "keep_events": [], "rename_events": {"signup": "Sign Up"},
     "drop_properties": ["password"], "rename_properties": {"userEmail": "$email"},
     "hash_properties": ["$email", "phone"], "add_properties": {"pipeline": "kinesis-prod"}}

`transforms.py` applies them, in this order. Event names match exactly or by `*` (any run of characters).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from . import codec
from .errors import ConfigError

TRANSFORMS = "TRANSFORMS"
TRANSFORM_HASH_KEY = "TRANSFORM_HASH_KEY"
MIN_HASH_KEY_CHARS = 16  # a short key would let a dictionary of emails be hashed and matched again

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
    """Event names: those given whole, the starts and ends of those with one `*` at an end (a string test is a tenth
    of a regular expression's), and one pattern for the others with `*`."""

    __slots__ = ("exact", "pattern", "prefixes", "suffixes")

    def __init__(
        self,
        exact: frozenset[str],
        prefixes: tuple[str, ...],
        suffixes: tuple[str, ...],
        pattern: re.Pattern[str] | None,
    ) -> None:
        self.exact = exact
        self.prefixes = prefixes
        self.suffixes = suffixes
        self.pattern = pattern

    def __call__(self, name: str) -> bool:
        return (
            name in self.exact
            or (self.prefixes != () and name.startswith(self.prefixes))
            or (self.suffixes != () and name.endswith(self.suffixes))
            or (self.pattern is not None and self.pattern.fullmatch(name) is not None)
        )

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes or self.suffixes) or self.pattern is not None


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


def read_rules(text: str | None) -> TransformRules | None:
    """The rules in `text` (the TRANSFORMS variable), None when there are none; ConfigError naming the key if not."""
    if text is None:
        return None
    try:
        value = codec.loads(text)
    except ValueError:
        raise ConfigError(TRANSFORMS, "is not valid JSON: it must be a JSON object of rules") from None
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
        add_properties=_object(value, "add_properties"),
    )
    return rules if any(rules) else None


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
    prefixes = tuple(name[:-1] for name in names if name.count("*") == 1 and name.endswith("*"))
    suffixes = tuple(name[1:] for name in names if name.count("*") == 1 and name.startswith("*") and name != "*")
    patterns = [name for name in names if "*" in name and name[:-1] not in prefixes and name[1:] not in suffixes]
    if not patterns:
        return NameMatcher(exact, prefixes, suffixes, None)
    alternatives = "|".join(_wildcard(pattern) for pattern in patterns)
    return NameMatcher(exact, prefixes, suffixes, re.compile(f"(?:{alternatives})", re.DOTALL))


def _wildcard(pattern: str) -> str:
    escape: Callable[[str], str] = re.escape
    return ".*".join(escape(part) for part in pattern.split("*"))
