"""Payload formats (PAYLOAD_FORMAT): which vendor's shape a message is in, and the Mixpanel messages it holds.

Under `auto` each message is recognised by its shape, in this order (docs/formats.md):
1. a Mixpanel profile update (`$distinct_id`, `$group_key` or `$group_id`) or an event of exactly `event` and
   `properties`: Mixpanel;
2. `type` one of Segment's calls, with `messageId`, `userId` or `anonymousId`: the Segment spec (Segment, RudderStack);
3. `event_type`, with `user_id` or `device_id`: Amplitude's export JSON;
4. anything else: Mixpanel (an event, or validation says why it is none).
Under an explicit format every message must be in it, and one that is not is refused, saying so.
"""

from __future__ import annotations

from typing import Any

from ..errors import Invalid
from ..model import FORMAT_AMPLITUDE, FORMAT_AUTO, FORMAT_MIXPANEL, FORMAT_SEGMENT, Item, Kind
from ..profiles import kind_of
from .base import SEGMENT_CALLS, FormatOptions, Message

__all__ = ["FormatOptions", "Message", "common_event", "kind_of_item", "read_messages", "recognise"]

_VENDORS = {FORMAT_SEGMENT: "a Segment-spec", FORMAT_AMPLITUDE: "an Amplitude"}


def read_messages(item: Item, payload_format: str, options: FormatOptions) -> list[Message]:
    """The Mixpanel messages `item` holds; Invalid when it is no message of `payload_format`."""
    payload = item.payload
    if item.sent or item.error is not None or type(payload) is not dict:
        return [Message(kind_of_item(item), item)]  # parked as sent: Mixpanel's shape already
    found = recognise(payload) if payload_format in (FORMAT_AUTO, FORMAT_MIXPANEL) else payload_format
    if payload_format == FORMAT_MIXPANEL and found != FORMAT_MIXPANEL:
        raise Invalid(
            "message",
            f"is {_VENDORS[found]} message, and PAYLOAD_FORMAT is mixpanel: set PAYLOAD_FORMAT to auto or {found}",
        )
    if found == FORMAT_SEGMENT:
        from . import segment  # imported on the first message of its format: cold start is paid by everyone

        return segment.messages(item, options)
    if found == FORMAT_AMPLITUDE:
        from . import amplitude

        return amplitude.messages(item, options)
    return [Message(kind_of_item(item), item)]


def common_event(item: Item, payload_format: str, now_ms: int) -> dict[str, Any] | None:
    """A vendor's event common in shape, in one step (the general path makes the same of it), or None: for the
    messages the common step of Mixpanel's events does not take, when there are no transforms."""
    payload = item.payload
    if type(payload) is not dict or item.sent:
        return None
    found = recognise(payload) if payload_format == FORMAT_AUTO else payload_format
    if found != FORMAT_SEGMENT:
        return None
    from . import segment

    return segment.common_event(payload, item, now_ms)


def recognise(message: dict[str, Any]) -> str:
    """The format a message is in by its shape (the module docstring gives the order)."""
    if "$distinct_id" in message or "$group_key" in message or "$group_id" in message:
        return FORMAT_MIXPANEL
    if len(message) == 2 and "event" in message and "properties" in message:
        return FORMAT_MIXPANEL
    call = message.get("type")
    if (
        type(call) is str
        and call in SEGMENT_CALLS
        and ("messageId" in message or "userId" in message or "anonymousId" in message)
    ):
        return FORMAT_SEGMENT
    if "event_type" in message and ("user_id" in message or "device_id" in message):
        return FORMAT_AMPLITUDE  # its value is checked after: one that is no name is refused, naming it
    return FORMAT_MIXPANEL


def kind_of_item(item: Item) -> Kind:
    """The kind a Mixpanel message declares by its shape (Invalid when it declares several, or a profile update
    wrongly)."""
    payload = item.payload
    if item.error is not None or type(payload) is not dict:
        return Kind.EVENT
    profile_fields = "$distinct_id" in payload or "$group_key" in payload or "$group_id" in payload
    if "event" in payload and not profile_fields:
        return Kind.EVENT  # most messages here: events needing more work than the common path's
    return kind_of(payload)
