"""The values the formats make: a Mixpanel message of an item, and the settings the formats read.

Plain `__slots__` classes rather than NamedTuples, which cost ~0.2 ms each to create at import (cold start).
"""

from __future__ import annotations

from ..errors import Invalid
from ..model import ID_MERGE_SIMPLIFIED, Item, Kind

SEGMENT_DEFAULT_GROUP_KEY = "$group_id"  # Segment's Mixpanel destination's default
SEGMENT_CALLS = ("track", "page", "screen", "identify", "group", "alias")


class FormatOptions:
    """The settings the formats read: the identity API, Segment's group key, what Amplitude's user properties do."""

    __slots__ = ("amplitude_user_properties", "id_merge", "segment_group_key")

    def __init__(
        self,
        id_merge: str = ID_MERGE_SIMPLIFIED,
        segment_group_key: str = SEGMENT_DEFAULT_GROUP_KEY,
        amplitude_user_properties: bool = False,
    ) -> None:
        self.id_merge = id_merge
        self.segment_group_key = segment_group_key
        self.amplitude_user_properties = amplitude_user_properties


class Message:
    """One Mixpanel message of an item: its kind and an item holding it in Mixpanel's shape. `refusal` says why a
    message of that kind could not be made; `skipped` that the call holds nothing to send (an identify without
    traits), counted as filtered."""

    __slots__ = ("item", "kind", "refusal", "skipped")

    def __init__(self, kind: Kind, item: Item, refusal: Invalid | None = None, skipped: str | None = None) -> None:
        self.kind = kind
        self.item = item
        self.refusal = refusal
        self.skipped = skipped
