"""The TRANSFORMS rules applied to one message, after format mapping and before validation (docs/transforms.md).

Events: drop_events, keep_events, rename_events, drop_properties, rename_properties, hash_properties,
add_properties, in that order. Profile updates: the property rules on each operation's map (no hashing in `$add`,
whose values must stay numbers; renames in `$unset`'s names), and no event or add rules. Every rule makes new
dicts: the message stays as it arrived, for parking. Hashing is HMAC-SHA256 keyed by the project's hash key, never
a bare hash, which a dictionary of emails reverses.

A user's identity is one thing: a rule hashing any field that carries it hashes every such field
(docs/transforms.md), and never what is no id (a placeholder, an object), which validation must see to refuse. A group
key is a property of events: renaming or hashing it renames `$group_key` or hashes `$group_id` in group updates, so
that profiles meet events. Numbers are hashed exactly (an integer's digits), so a float that may be a rounded
integer raises Inexact first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from . import codec
from .errors import Inexact
from .limits import inexact_number, maybe_rounded
from .normalize import is_placeholder
from .transform_rules import IDENTITY_FIELDS, MIN_HASH_KEY_CHARS, TransformRules, hash_key_error

# An update's operations that hold a map of property names (`$unset` holds a list of names; `$delete` nothing).
_MAP_OPERATIONS = ("$set", "$set_once", "$add", "$union", "$append", "$remove")
# Mixpanel's prefix on a distinct_id it derives from `$device_id`: kept, and what follows hashed as `$device_id` is.
DEVICE_PREFIX = "$device:"
_ROUNDED = "may be an integer beyond 64 bits, read rounded"


class Filtered:
    """A message a rule filtered out, and which rule: it ends filtered, counted, never sent, parked or retried."""

    __slots__ = ("rule",)

    def __init__(self, rule: str) -> None:
        self.rule = rule

    def __repr__(self) -> str:
        return f"Filtered({self.rule!r})"


DROPPED = Filtered("drop_events")
NOT_KEPT = Filtered("keep_events")
EMPTIED = Filtered("drop_properties")  # a profile update left with nothing to change


class Transforms:
    """The rules, bound to the hash key (read with the credentials, so a rotated secret is followed)."""

    def __init__(self, rules: TransformRules, hash_key: str | None) -> None:
        if rules.needs_hash_key:
            if hash_key is None:
                raise hash_key_error("there is none")
            if len(hash_key) < MIN_HASH_KEY_CHARS:
                raise hash_key_error(f"the key has fewer than {MIN_HASH_KEY_CHARS} characters")
        self.rules = rules
        self._dropped = rules.drop_events if rules.drop_events else None
        self._kept = rules.keep_events if rules.keep_events else None
        self._renamed = rules.rename_events
        self._hmac = hmac.new((hash_key or "").encode(), digestmod=hashlib.sha256)
        self._drop = rules.drop_properties
        self._drop_paths = tuple(name for name in rules.drop_properties if "." in name)
        self._rename = rules.rename_properties
        self._add = rules.add_properties
        # Hashing one field of a user's identity hashes them all: else the identity goes in the clear in another.
        self._hash_ids = rules.hashes_identity
        self._hash = rules.hashed()

    def event(self, name: str, properties: dict[str, Any], exact: bool = False) -> dict[str, Any] | Filtered:
        """The event `{"event", "properties"}` after the rules, in new dicts; or Filtered, naming the rule. Inexact
        (read it again exactly) when a value to hash may be an integer beyond 64 bits, read rounded."""
        if self._dropped is not None and self._dropped(name):
            return DROPPED
        if self._kept is not None and not self._kept(name):
            return NOT_KEPT
        properties = self._properties(properties, True, exact)
        name = self._renamed.get(name, name)
        if self._hash_ids and name == "$create_alias" and "alias" in properties:  # the event it is sent as
            properties["alias"] = self._hash_id(properties["alias"], exact)
        if self._add:
            properties.update(self._add)
        return {"event": name, "properties": properties}

    def update(self, update: dict[str, Any], exact: bool = False) -> dict[str, Any] | Filtered:
        """A profile update after the property rules, in new dicts; Filtered when they leave an operation's map
        empty (nothing is left to change). Whatever else is wrong with it, validation says next."""
        changed = dict(update)
        for operation in _MAP_OPERATIONS:
            values = update.get(operation)
            if type(values) is dict:
                changed[operation] = self._properties(values, operation != "$add", exact)
                if values and not changed[operation]:
                    return EMPTIED
        names = update.get("$unset")
        if type(names) is list and self._rename:
            changed["$unset"] = [self._rename.get(name, name) if type(name) is str else name for name in names]
        if self._hash_ids and "$distinct_id" in update:
            changed["$distinct_id"] = self._hash_id(update["$distinct_id"], exact)
        group_key = update.get("$group_key")
        if type(group_key) is str:
            group_key = changed["$group_key"] = self._rename.get(group_key, group_key)  # as events' property is
            if group_key in self._hash and "$group_id" in update:
                changed["$group_id"] = self._hash_id(update["$group_id"], exact)  # as the events' group property is
        return changed

    def _properties(self, properties: dict[str, Any], hash_values: bool, exact: bool) -> dict[str, Any]:
        # A step per rule's name, not per property: most messages hold none of the names a rule lists.
        kept = dict(properties)
        for name in self._drop:
            kept.pop(name, None)
        if self._rename:
            moved = [(new, kept.pop(old)) for old, new in self._rename.items() if old in kept]
            for new, value in moved:  # after taking every old name: a renamed property replaces one of its new name
                kept[new] = value
        for path in self._drop_paths:
            if path not in properties:  # a top-level name with a dot is that property; else it is a path
                _edit_path(kept, path.split("."), None)
        if hash_values:
            for name in self._hash:
                if name in kept:
                    value = kept[name]
                    kept[name] = self._hash_id(value, exact) if name in IDENTITY_FIELDS else self._digest(value, exact)
                elif "." in name:
                    _edit_path(kept, name.split("."), lambda value: self._digest(value, exact))
        return kept

    def _digest(self, value: Any, exact: bool) -> Any:
        """HMAC-SHA256 in lowercase hex of a string's UTF-8, or of another value's JSON text (an integer's exact
        digits); a list's items each; null stays null (nothing to hide)."""
        kind = type(value)
        if value is None:
            return None
        if kind is list:
            return [self._digest(each, exact) for each in value]
        if kind is str:
            data = value.encode("utf-8", "surrogatepass")
        elif kind is int:
            data = str(value).encode()  # exact at any size, where a number's JSON may not be
        elif kind is float:
            if not exact and maybe_rounded(value):
                raise Inexact("properties", _ROUNDED)
            data = codec.dumps(value)
        elif kind is dict:
            if not exact and inexact_number("properties", value, exact) is not None:
                raise Inexact("properties", _ROUNDED)
            data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        else:
            data = codec.dumps(value)
        return self._hex(data)

    def _hash_id(self, value: Any, exact: bool) -> Any:
        """An identity's hash: of a string's text after any `$device:` prefix (kept, so that the id Mixpanel would
        derive from a hashed `$device_id` is the same), or of an integer's digits (`123` and `"123"` are one id).
        What is no id stays as it is — a placeholder, a blank id, null, a boolean, an object: validation refuses it,
        or Mixpanel takes it for what it is (an empty distinct_id is an event of no user), exactly as without the
        rule. Its hash would be one real-looking id of every message carrying it: unrelated users in one."""
        kind = type(value)
        prefix = ""
        if kind is str:
            text = value
            if value.startswith(DEVICE_PREFIX):
                prefix, text = DEVICE_PREFIX, value[len(DEVICE_PREFIX) :]
        elif kind is int:
            text = str(value)
        elif kind is float:
            if not exact and maybe_rounded(value):
                raise Inexact("properties", _ROUNDED)
            text = codec.dumps(value).decode()
        elif kind is list:
            return [self._hash_id(each, exact) for each in value]
        else:
            return value
        if not text.strip() or is_placeholder(text):
            return value
        return prefix + self._hex(text.encode("utf-8", "surrogatepass"))

    def _hex(self, data: bytes) -> str:
        digest = self._hmac.copy()
        digest.update(data)
        return digest.hexdigest()


def _edit_path(properties: dict[str, Any], parts: list[str], edit: Callable[[Any], Any] | None) -> None:
    """The value at `parts` in nested objects replaced by `edit(value)`, or removed (`edit` None); each object on the
    way is copied, so the message keeps its own. Nothing changes when the path leads nowhere."""
    parent: Any = properties
    for part in parts[:-1]:
        parent = parent.get(part)
        if type(parent) is not dict:
            return
    if parts[-1] not in parent:
        return
    parent = properties
    for part in parts[:-1]:
        parent[part] = child = dict(parent[part])
        parent = child
    if edit is None:
        del parent[parts[-1]]
    else:
        parent[parts[-1]] = edit(parent[parts[-1]])
