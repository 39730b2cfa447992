"""Who an event is about, by the project's identity API (MIXPANEL_ID_MERGE; docs/messages.md cites each rule).

- Simplified ID merge: an event without `distinct_id` gets Mixpanel's own derivation, "the value of `$user_id` if
  present; otherwise, it takes `$device_id` and prefixes it with `$device:`"; and `$identify`, `$create_alias`
  and `$merge` are refused: Mixpanel says it ignores them, and `/import` answers them with a 400.
- Original ID merge: those events are Mixpanel's identity documents and are sent as they are.
"""

from __future__ import annotations

from typing import Any

from .errors import Invalid
from .model import ID_MERGE_SIMPLIFIED

IDENTITY_EVENTS = frozenset({"$identify", "$create_alias", "$merge"})


def identify(name: str, properties: dict[str, Any], id_merge: str) -> str | None:
    """The distinct_id to give an event that has none (None: leave it as it is); Invalid for an identity event
    the project's identity API does not take."""
    if id_merge != ID_MERGE_SIMPLIFIED:
        return None
    if name in IDENTITY_EVENTS:
        raise Invalid(
            "event",
            f"{name} is ignored by simplified ID merge and refused by /import; if the project uses original ID "
            "merge, set MIXPANEL_ID_MERGE=original",
        )
    if "distinct_id" in properties:
        return None
    user_id = properties.get("$user_id")
    if type(user_id) is str and user_id:
        return user_id
    device_id = properties.get("$device_id")
    if type(device_id) is str and device_id:
        return f"$device:{device_id}"
    return None
