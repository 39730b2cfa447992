"""Mixpanel's `/import` (events), in strict mode: the endpoint, gzip bodies, and how its answers read.

| answer | verdict |
|---|---|
| 2xx with Mixpanel's answer (`num_records_imported` is the number sent) | accepted |
| 2xx without it (a proxy's page, another count) | retry: not confirmed (dedup makes a resend safe) |
| 400 with `failed_records` | partial: the listed events refused, the rest of the request **was** imported |
| 400 whose `failed_records` name no event of the request | split: halves until the refused events stand alone |
| 400 without `failed_records` | refuse_all, with Mixpanel's error as the reason |
| 413 | split |
| anything else | as base.common_verdict: 401 reauthorize, 408/429/5xx retry, the rest halt |
"""

from __future__ import annotations

import base64
from typing import Any

from .. import codec
from ..batching import Batch
from ..credentials import Credentials
from ..model import Failure, Stage, clip
from ..transport import Endpoint, Response
from .base import ACCEPTED, PARTIAL, REFUSE_ALL, RETRY, SNIPPET_CHARACTERS, SPLIT, Verdict, common_verdict, snippet

UNCONFIRMED = "2xxUnconfirmed"  # the request class (metrics.REQUEST_CLASSES) of a 2xx that is not Mixpanel's answer


class ImportDestination:
    name = "/import"
    ordered = False  # events carry their own time, and order among them does not matter
    token_inside = False  # the credentials go in the Authorization header

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes

    def endpoint(self, api_url: str, credentials: Credentials) -> Endpoint:
        project = "" if credentials.project_id is None else f"&project_id={credentials.project_id}"
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        return Endpoint(f"{api_url}/import?strict=1{project}", f"Basic {token}")

    def encode(self, batch: Batch, credentials: Credentials) -> tuple[bytes, int]:
        payload = batch.payload()
        return codec.gzip(payload), len(payload)

    def not_idempotent(self, batch: Batch) -> int:
        return 0  # Mixpanel drops an event sent twice by its $insert_id

    def read(self, response: Response, batch: Batch) -> Verdict:
        status = response.status
        if 200 <= status < 300:
            if _confirms(response.body, len(batch)):
                return Verdict(ACCEPTED)
            # A proxy or a captive portal answering in Mixpanel's place: nothing says the events arrived.
            problem = f"a {status} that is not Mixpanel's answer for {len(batch)} events: {snippet(response.body)}"
            return Verdict(RETRY, problem=problem, request_class=UNCONFIRMED)
        if status == 400:
            return _strict_answer(batch, response)
        if status == 413:
            failure = Failure(f"too large for one request: {snippet(response.body)}", "event", Stage.REFUSED)
            return Verdict(SPLIT, failure=failure)
        return common_verdict(response)


def _confirms(body: bytes, events: int) -> bool:
    """Mixpanel's 200 says how many events it imported (`{"code":200,"num_records_imported":N,"status":"OK"}`)."""
    answer = _json(body)
    imported = answer.get("num_records_imported") if isinstance(answer, dict) else None
    return type(imported) is int and imported == events


def _strict_answer(batch: Batch, response: Response) -> Verdict:
    """400 in strict mode: the listed events are refused, the others of the request were imported."""
    answer = _json(response.body)
    entries = answer.get("failed_records") if isinstance(answer, dict) else None
    if not isinstance(entries, list) or not entries:
        error = answer.get("error") if isinstance(answer, dict) else None
        failure = Failure(f"Mixpanel refused the request: {error or snippet(response.body)}", "request", Stage.REFUSED)
        return Verdict(REFUSE_ALL, failure=failure)
    refused: dict[int, Failure] = {}
    unplaced = False
    first_unplaced = ""
    by_insert_id: dict[str, int] | None = None
    for entry in entries:
        position = None
        field = message = None
        if isinstance(entry, dict):
            index = entry.get("index")
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(batch):
                position = index
            field, message = entry.get("field"), entry.get("message")
            insert_id = entry.get("$insert_id", entry.get("insert_id"))
        else:
            insert_id = entry
        if position is None and isinstance(insert_id, str):
            if by_insert_id is None:
                by_insert_id = _insert_ids(batch)
            position = by_insert_id.get(insert_id)
        if position is None:
            if not unplaced:
                first_unplaced = str(message or entry)
            unplaced = True
            continue
        refused[position] = Failure(
            str(message or "refused by Mixpanel in strict mode"), str(field) if field else "event", Stage.REFUSED
        )
    if unplaced and not refused:
        # Nothing names an event (e.g. ["identity events are not allowed …"] for a whole request): sent again as
        # is, it would be refused again on every delivery. Halves find the events refused, and park only those.
        reason = f"Mixpanel refused the request: {clip(first_unplaced, SNIPPET_CHARACTERS)}"
        return Verdict(SPLIT, failure=Failure(reason, "event", Stage.REFUSED))
    return Verdict(PARTIAL, refused=refused, unplaced=unplaced)


def _insert_ids(batch: Batch) -> dict[str, int]:
    ids: dict[str, int] = {}
    for position in range(len(batch)):
        event = codec.loads(batch.body(position))
        ids.setdefault(str(event["properties"].get("$insert_id")), position)
    return ids


def _json(body: bytes) -> Any:
    try:
        return codec.loads(body)
    except codec.JSONDecodeError:
        return None  # proxies answer HTML: the caller falls back to the raw text
