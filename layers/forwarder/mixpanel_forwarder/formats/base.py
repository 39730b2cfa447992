"""The values the formats make: a Mixpanel message of an item, and the settings the formats read."""

from __future__ import annotations

from typing import NamedTuple

from ..errors import Invalid
from ..model import ID_MERGE_SIMPLIFIED, Item, Kind

SEGMENT_DEFAULT_GROUP_KEY = "$group_id"  # Segment's Mixpanel destination's default


class FormatOptions(NamedTuple):
    """The settings the formats read: the identity API, Segment's group key, what Amplitude's user properties do."""

    id_merge: str = ID_MERGE_SIMPLIFIED
    segment_group_key: str = SEGMENT_DEFAULT_GROUP_KEY
    amplitude_user_properties: bool = False


class Message(NamedTuple):
    """One Mixpanel message of an item: its kind and an item holding it in Mixpanel's shape. `refusal` says why a
    message of that kind could not be made; `skipped` that the call holds nothing to send (an identify without
    traits), counted as filtered."""

    kind: Kind
    item: Item
    refusal: Invalid | None = None
    skipped: str | None = None
