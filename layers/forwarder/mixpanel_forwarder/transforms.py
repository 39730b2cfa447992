"""The TRANSFORMS rules applied to one message, after format mapping and before validation (README, "Transforms").

Events: drop_events, keep_events, rename_events, drop_properties, rename_properties, hash_properties,
add_properties, in that order. Profile updates: the property rules on each operation's map (no hashing in `$add`,
whose values must stay numbers; renames in `$unset`'s names), and no event or add rules. Every rule makes new
dicts: the message stays as it arrived, for parking. Hashing is HMAC-SHA256 keyed by the project's hash key, never
a bare hash, which a dictionary of emails reverses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from . import codec
from .transform_rules import MIN_HASH_KEY_CHARS, TransformRules, hash_key_error

# An update's operations that hold a map of property names (`$unset` holds a list of names; `$delete` nothing).
_MAP_OPERATIONS = ("$set", "$set_once", "$add", "$union", "$append", "$remove")


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
        self._hash = rules.hash_properties
        self._add = rules.add_properties
        # A user update's $distinct_id is hashed when events' distinct_id is, so that profiles and events still meet.
        self._hash_ids = "distinct_id" in self._hash

    def event(self, name: str, properties: dict[str, Any]) -> dict[str, Any] | Filtered:
        """The event `{"event", "properties"}` after the rules, in new dicts; or Filtered, naming the rule."""
        if self._dropped is not None and self._dropped(name):
            return DROPPED
        if self._kept is not None and not self._kept(name):
            return NOT_KEPT
        properties = self._properties(properties, hash_values=True)
        if self._add:
            properties.update(self._add)
        return {"event": self._renamed.get(name, name), "properties": properties}

    def update(self, update: dict[str, Any]) -> dict[str, Any] | Filtered:
        """A profile update after the property rules, in new dicts; Filtered when they leave an operation's map
        empty (nothing is left to change). Whatever else is wrong with it, validation says next."""
        changed = dict(update)
        for operation in _MAP_OPERATIONS:
            values = update.get(operation)
            if type(values) is dict:
                changed[operation] = self._properties(values, hash_values=operation != "$add")
                if values and not changed[operation]:
                    return EMPTIED
        names = update.get("$unset")
        if type(names) is list and self._rename:
            changed["$unset"] = [self._rename.get(name, name) if type(name) is str else name for name in names]
        if self._hash_ids and "$distinct_id" in update:
            changed["$distinct_id"] = self._digest(update["$distinct_id"])
        group_key = update.get("$group_key")
        if type(group_key) is str and group_key in self._hash and "$group_id" in update:
            changed["$group_id"] = self._digest(update["$group_id"])  # as the events' group property is
        return changed

    def _properties(self, properties: dict[str, Any], hash_values: bool) -> dict[str, Any]:
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
                    kept[name] = self._digest(kept[name])
                elif "." in name:
                    _edit_path(kept, name.split("."), self._digest)
        return kept

    def _digest(self, value: Any) -> Any:
        """HMAC-SHA256 in lowercase hex of a string's UTF-8, or of another value's JSON text; a list's items each;
        null stays null (nothing to hide)."""
        kind = type(value)
        if value is None:
            return None
        if kind is list:
            return [self._digest(each) for each in value]
        if kind is str:
            data = value.encode("utf-8", "surrogatepass")
        elif kind is dict:
            data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        else:
            data = codec.dumps(value)
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
