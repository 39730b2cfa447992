"""Amplitude's export JSON (what its Kinesis destination and Export API send), each event fixed by an index."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .cdp import anonymous_id, event_ms
from .common import T0_MS, fixed_uuid


def _amplitude_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def amplitude_events(first: int) -> list[dict[str, Any]]:
    """Amplitude's export JSON: a web event with an IP and a group, an anonymous iOS event placed by city and
    region only, with a server's long insert id, an event without `$insert_id` (its `uuid` stands in), and the
    `$identify` record of a user property change."""
    specs: list[tuple[str, dict[str, Any]]] = [
        ("Song Played", {"$insert_id": fixed_uuid("amplitude-insert", first), "ip_address": "203.0.113.200"}),
        ("Workout Saved", {"$insert_id": f"workout-{first + 1}-saved-2025-11-24T16:00:05Z", "user_id": None}),
        ("Plan Upgraded", {"ip_address": "198.51.100.23"}),
        ("$identify", {"ip_address": "198.51.100.23", "event_properties": {}}),
    ]
    events = []
    for offset, (event_type, fields) in enumerate(specs):
        i = first + offset
        at = event_ms(i)
        web = offset != 1
        event = {
            "$insert_id": None,
            "amplitude_id": 900_000_000_000 + i,
            "app": 612_345,
            "city": "Portland",
            "client_event_time": _amplitude_time(at),
            "country": "United States",
            "data": {"path": "/2/httpapi", "group_ids": {}, "user_properties_updated": offset == 3},
            "device_brand": None if web else "Apple",
            "device_carrier": None if web else "T-Mobile",
            "device_id": anonymous_id(i) if web else fixed_uuid("ios-device", i).upper(),
            "device_manufacturer": None if web else "Apple",
            "device_model": "Mac OS" if web else "iPhone 15 Pro",
            "device_type": "Mac" if web else "Apple iPhone 15 Pro",
            "event_id": 412 + offset,
            "event_properties": {"song_id": "trk-77120", "genre": "indie", "duration_s": 214},
            "event_time": _amplitude_time(at),
            "event_type": event_type,
            "group_properties": {},
            "groups": {"company": "acme-outdoor"} if offset == 0 else {},
            "ip_address": None,
            "language": "English",
            "library": "amplitude-ts/2.11.8" if web else "amplitude-swift/1.9.2",
            "location_lat": None,
            "location_lng": None,
            "os_name": "Chrome" if web else "ios",
            "os_version": "131" if web else "18.1.1",
            "platform": "Web" if web else "iOS",
            "processed_time": _amplitude_time(at + 2100),
            "region": "Oregon",
            "server_received_time": _amplitude_time(at + 640),
            "server_upload_time": _amplitude_time(at + 650),
            "session_id": T0_MS + first * 1000,
            "user_creation_time": "2025-03-14 09:26:53.000000",
            "user_id": f"user-{first}",
            "user_properties": {"plan": "growth", "favorite_genre": "indie", "initial_utm_source": "newsletter"},
            "uuid": fixed_uuid("amplitude-uuid", i),
            "version_name": None if web else "4.12.0",
        }
        if offset == 1:
            event["event_properties"] = {"activity": "trail run", "distance_km": 11.4, "elevation_m": 620}
        if offset == 2:
            event["event_properties"] = {"from_plan": "starter", "to_plan": "growth", "seats": 5}
        event.update(fields)
        events.append(event)
    return events
