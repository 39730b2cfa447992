"""What a request's answer does to its messages, as Delivery's sender threads write it: each imported, refused for
good (parked as it was sent), or reported for retry; and, for profile updates, once one of a profile could not be
delivered, that profile's later updates held back and reported with it, so they never overtake it.

From an ordered source (SQS FIFO, Kinesis), once a record is reported every record after it comes again, whatever
happens to it now: the FIFO answer names them all (report.py), and Lambda resumes a shard from the lowest sequence
number reported. Their requests are not sent any more (`comes_again`): under throttling they would spend the rate
limit on messages sent again anyway, and profile updates applied now would be applied a second time then.
"""

from __future__ import annotations

import threading

from . import codec
from .batching import Batch
from .destinations import Verdict
from .ledger import FailedEvent, Ledger, Outcomes
from .model import Failure

HELD_BACK = "held back: an earlier update of this profile was not delivered"
COMES_AGAIN = "not sent: an earlier record is reported, and the source delivers every record after it again"


class RequestOutcomes:
    """The ledger's states for the messages of an invocation's requests, written through `Outcomes` (closed once the
    invocation answers)."""

    def __init__(self, ledger: Ledger, *, ordered_source: bool = False) -> None:
        self._outcomes = Outcomes(ledger)
        self._lock = threading.Lock()
        self._blocked: set[str] = set()  # profiles with an update not delivered: their later ones are held back
        self._record_of = ledger.record_of
        self._ordered_source = ordered_source
        # The lowest record reported so far (ordered sources): every record after it comes again.
        self._first_reported: int | None = None

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
        self._reported(batch.indices)

    def comes_again(self, batch: Batch) -> bool:
        """Every message of the batch is of a record after one already reported (ordered sources only)."""
        first = self._first_reported
        return first is not None and min(self._record_of[index] for index in batch.indices) > first

    def _reported(self, indices: list[int]) -> None:
        if self._ordered_source and indices:
            record = min(self._record_of[index] for index in indices)
            with self._lock:
                if self._first_reported is None or record < self._first_reported:
                    self._first_reported = record

    def hold_back(self, batch: Batch) -> Batch:
        """The batch without the updates of profiles that have one not delivered (those are reported)."""
        assert batch.keys is not None
        with self._lock:
            blocked = self._blocked
            held = [position for position, key in enumerate(batch.keys) if key in blocked] if blocked else []
        if not held:
            return batch
        held_back = [batch.indices[position] for position in held]
        self._outcomes.fail_all(held_back, Failure(HELD_BACK))
        self._reported(held_back)
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
                self._reported([index])
            else:
                imported.append(index)
        self._outcomes.imported(imported)
