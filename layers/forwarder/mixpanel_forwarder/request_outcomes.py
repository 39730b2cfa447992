"""What a request's answer does to its messages, as Delivery's sender threads write it: each imported, refused for
good (parked as it was sent), or reported for retry; and, for profile updates, once one of a profile could not be
delivered, that profile's later updates held back and reported with it, so they never overtake it.
"""

from __future__ import annotations

import threading

from . import codec
from .batching import Batch
from .destinations import Verdict
from .ledger import FailedEvent, Ledger, Outcomes
from .model import Failure

HELD_BACK = "held back: an earlier update of this profile was not delivered"


class RequestOutcomes:
    """The ledger's states for the messages of an invocation's requests, written through `Outcomes` (closed once the
    invocation answers)."""

    def __init__(self, ledger: Ledger) -> None:
        self._outcomes = Outcomes(ledger)
        self._lock = threading.Lock()
        self._blocked: set[str] = set()  # profiles with an update not delivered: their later ones are held back

    def close(self) -> None:
        """From here on the ledger is the invocation's alone: what a sender thread learns later changes nothing."""
        self._outcomes.close()

    def imported(self, batch: Batch) -> None:
        self._outcomes.imported(batch.indices)

    def give_up(self, batch: Batch, failure: Failure) -> None:
        """The batch is reported for retry; for profile updates, their profiles' later updates are held back."""
        if batch.keys is not None:
            with self._lock:
                self._blocked.update(batch.keys)
        self._outcomes.fail_all(batch.indices, failure)

    def hold_back(self, batch: Batch) -> Batch:
        """The batch without the updates of profiles that have one not delivered (those are reported)."""
        assert batch.keys is not None
        with self._lock:
            blocked = self._blocked
            held = [position for position, key in enumerate(batch.keys) if key in blocked] if blocked else []
        if not held:
            return batch
        self._outcomes.fail_all([batch.indices[position] for position in held], Failure(HELD_BACK))
        held_positions = set(held)
        return batch.select([position for position in range(len(batch)) if position not in held_positions])

    def refuse(self, batch: Batch, position: int, failure: Failure | None) -> None:
        """A permanent refusal: the message is parked as it was sent, so it is read back from the batch (a profile
        update there has no project token: it is written in when sent, and replay's goes in then)."""
        assert failure is not None  # refuse_all and split verdicts carry their failure
        self._outcomes.fail(batch.indices[position], FailedEvent(failure, codec.loads(batch.body(position))))

    def partial(self, batch: Batch, verdict: Verdict) -> None:
        """Some messages refused (by position), the others imported."""
        imported = []
        for position, index in enumerate(batch.indices):
            refusal = verdict.refused.get(position)
            if refusal is not None:
                self.refuse(batch, position, refusal)
            elif verdict.unplaced:
                # Mixpanel refused something we cannot place: resend the rest (dedup makes it safe).
                self._outcomes.fail(index, FailedEvent(Failure("Mixpanel's 400 named a record that cannot be matched")))
            else:
                imported.append(index)
        self._outcomes.imported(imported)
