"""Mixpanel's `/engage` (user profiles) and `/groups` (group profiles): the endpoints, plain JSON bodies, and how
their answers read.

These endpoints take the project token inside each update, so a request has no Authorization header: it is
written into each update as the request is encoded, from the credentials it is sent with. They do not take gzip
("This API does not support gzip encoding"), and they answer 200 even when they refuse: with `verbose=1` the body
is `{"status": 1|0, "error": …}` (docs/messages.md, "Profile updates", cites each).

Mixpanel documents 200, 401 and 403 for them, and says what it refuses in the 200 ("This API will return a 200 OK
even if there are data validation issues", https://docs.mixpanel.com/reference/profile-set); its 400 page is about
/import (https://docs.mixpanel.com/troubleshooting/errors/400-bad-request). A 400 is therefore no statement about
the updates: it is about the request, or from a proxy in between (MIXPANEL_API_URL), and parking the updates for it
would lose good ones. docs/delivery.md, "Failure semantics", says so too.

| answer | verdict |
|---|---|
| 200, `status` 1 | accepted |
| 200, `status` 0 | split: Mixpanel does not say which update it refused, so halves are sent until the |
| | refused ones stand alone, each then parked with Mixpanel's error |
| 200 without that body (a proxy's page, `1`, …) | retry: not confirmed |
| 413 | split; one update answered 413 is reported, not parked: its 1 MB is within Mixpanel's limit per update |
| | (https://docs.mixpanel.com/troubleshooting/errors/413-payload-too-large: "Split the batch and send it again") |
| anything else | as base.common_verdict: 401 reauthorize, 408/429/5xx retry, the rest (400 included) halt |
"""

from __future__ import annotations

from typing import Any

from .. import codec
from ..batching import Batch
from ..credentials import Credentials
from ..errors import Invalid
from ..model import Failure, Kind, Stage
from ..profiles import NO_TOKEN, NOT_IDEMPOTENT, token_field
from ..transport import Endpoint, Response
from .base import ACCEPTED, RETRY, SPLIT, Verdict, common_verdict, snippet
from .imports import UNCONFIRMED

_PATHS = {Kind.USER: "/engage", Kind.GROUP: "/groups"}


class ProfileDestination:
    """`/engage` or `/groups`; requests to it go one at a time, in order (see `ordered`)."""

    # Updates to one profile must arrive in the order they were written: a request waits for the one before.
    ordered = True
    token_inside = True

    def __init__(self, kind: Kind, max_events: int, max_bytes: int) -> None:
        self.kind = kind
        self.name = _PATHS[kind]
        self.max_events = max_events
        self.max_bytes = max_bytes

    def endpoint(self, api_url: str, credentials: Credentials) -> Endpoint:
        return Endpoint(f"{api_url}{self.name}?verbose=1", "", None)

    def encode(self, batch: Batch, credentials: Credentials) -> tuple[bytes, int]:
        """Plain JSON, each update opening with the token of `credentials` (the batch holds them without one)."""
        if credentials.token is None:  # the secret read again after a 401 has none
            raise Invalid("$token", NO_TOKEN)
        body = batch.opened_with(token_field(credentials.token))
        return body, len(body)

    def read(self, response: Response, batch: Batch) -> Verdict:
        status = response.status
        if 200 <= status < 300:
            answer = _json(response.body)
            verdict = answer.get("status") if isinstance(answer, dict) else None
            if verdict == 1 and type(verdict) is int:
                return Verdict(ACCEPTED)
            if verdict == 0 and type(verdict) is int:
                error = answer.get("error") if isinstance(answer, dict) else None
                reason = f"Mixpanel refused the update: {error or snippet(response.body)}"
                return Verdict(SPLIT, failure=Failure(reason, "update", Stage.REFUSED), request_class="2xxRefused")
            problem = f"a {status} that is not Mixpanel's verbose answer: {snippet(response.body)}"
            return Verdict(RETRY, problem=problem, request_class=UNCONFIRMED)
        if status == 413:  # not in the spec for these endpoints; Mixpanel's 413 page says to send halves
            # One update, within Mixpanel's 1 MB per update, answered 413 is not refused by Mixpanel (a gateway's limit,
            # say): no failure of the update's own, so it is reported, not parked (delivery, SPLIT of one).
            failure = Failure(
                f"answered 413 for one update, within Mixpanel's 1 MB per update: {snippet(response.body)}"
            )
            return Verdict(SPLIT, failure=failure)
        return common_verdict(response)

    def not_idempotent(self, batch: Batch) -> int:
        """How many updates of `batch` would change their profile again if applied twice (`$add`, `$append`)."""
        return sum(1 for position in range(len(batch)) if _operation(batch.body(position)) in NOT_IDEMPOTENT)


def _operation(body: bytes) -> str | None:
    update = _json(body)
    return next((key for key in update if key in NOT_IDEMPOTENT), None) if isinstance(update, dict) else None


def _json(body: bytes) -> Any:
    try:
        return codec.loads(body)
    except codec.JSONDecodeError:
        return None
