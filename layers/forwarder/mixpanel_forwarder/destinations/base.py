"""What a destination is: the endpoint a batch goes to, how its body is encoded, and how each answer is read
back into per-event outcomes. Delivery (the retry loop) knows nothing else about an endpoint.

A destination reads an answer into a Verdict; delivery carries it out:

| verdict | delivery does |
|---|---|
| accepted | every event of the request imported |
| partial | the listed events refused for good (parked as sent); the others imported, or resent when the answer
  named something that cannot be placed |
| refuse_all | every event of the request refused for good |
| split | the request is sent again in halves; a single event is refused for good (reported instead when the |
| | verdict's failure is not permanent: the answer says nothing against the event) |
| retry | sent again after a backoff, while attempts and time remain; then reported |
| reauthorize | the credentials are read again once and the request resent (encoded again with them when they are |
| | inside its body: `token_inside`); else as halt |
| halt | nothing more is sent this invocation; nothing of it is acknowledged |
"""

from __future__ import annotations

from typing import Protocol

from ..batching import Batch
from ..credentials import Credentials
from ..model import Failure
from ..retry import TRANSIENT_STATUSES
from ..transport import Endpoint, Response

ACCEPTED, PARTIAL, REFUSE_ALL, SPLIT, RETRY, REAUTHORIZE, HALT = (
    "accepted",
    "partial",
    "refuse_all",
    "split",
    "retry",
    "reauthorize",
    "halt",
)


class Verdict:
    """What one answer means for the events of its request (see the table in the module docstring)."""

    __slots__ = ("failure", "kind", "problem", "refused", "request_class", "unplaced")

    def __init__(
        self,
        kind: str,
        *,
        problem: str = "",
        failure: Failure | None = None,
        refused: dict[int, Failure] | None = None,
        unplaced: bool = False,
        request_class: str | None = None,
    ) -> None:
        self.kind = kind
        self.problem = problem  # why it is retried or halted, for the reason of what ends unsent
        self.failure = failure  # refuse_all and split: why the events are refused
        self.refused = refused or {}  # partial: position in the request → why
        self.unplaced = unplaced  # partial: the answer named an event that cannot be matched
        self.request_class = request_class  # for the request metrics, when the status alone does not say

    def __repr__(self) -> str:
        return f"Verdict({self.kind!r}, problem={self.problem!r})"


class Destination(Protocol):
    """One Mixpanel endpoint: `/import` (imports.ImportDestination), `/engage` and `/groups` (profiles)."""

    name: str  # the endpoint, as logs and parked reasons name it
    max_events: int  # per request
    max_bytes: int  # per request, uncompressed
    ordered: bool  # requests go one at a time, in order (profile updates); else several at once
    # The project token is written into each message when encoded (profile updates): a request is encoded again
    # when the credentials change, and each message's batch counts the bytes the token adds. Else the body does
    # not depend on the credentials and is encoded once.
    token_inside: bool

    def endpoint(self, api_url: str, credentials: Credentials) -> Endpoint:
        """The URL and authorization of a request."""
        ...

    def encode(self, batch: Batch, credentials: Credentials) -> tuple[bytes, int]:
        """The request body for the messages of `batch` sent with `credentials` (e.g. gzip-compressed), and its JSON's
        size before compression; Invalid when the credentials lack what the body needs (a project token)."""
        ...

    def read(self, response: Response, batch: Batch) -> Verdict:
        """What the answer to `batch` means for each of its events."""
        ...

    def not_idempotent(self, batch: Batch) -> int:
        """How many messages of `batch` would change Mixpanel's data again if applied twice."""
        ...


SNIPPET_CHARACTERS = 200  # of an answer's body kept in a reason


def snippet(body: bytes) -> str:
    return body[:SNIPPET_CHARACTERS].decode("utf-8", "replace").strip() or "(empty body)"


def common_verdict(response: Response) -> Verdict:
    """What every Mixpanel endpoint's answers mean beyond its own: 401, the transient statuses, the rest."""
    status = response.status
    problem = f"Mixpanel answered {status}: {snippet(response.body)}"
    if status == 401:
        return Verdict(REAUTHORIZE, problem=problem)
    if status in TRANSIENT_STATUSES:
        return Verdict(RETRY, problem=problem)
    return Verdict(HALT, problem=problem)
