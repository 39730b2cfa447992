"""The partial batch response: which records Lambda must deliver again.

- SQS standard: the messageId of every record that failed.
- SQS FIFO: the first failed record and every record after it, or message groups lose their order.
- Kinesis: the sequenceNumber of every failed record (Lambda resumes from the lowest); a KPL
  sub-record is reported through its parent, which is the record itself here.
"""

from __future__ import annotations

from .errors import InvocationError
from .model import SourceKind, SourceRecord


def batch_item_failures(kind: SourceKind, records: list[SourceRecord], failed: list[int]) -> list[dict[str, str]]:
    """`failed`: the numbers of the records to retry, ascending (`Ledger.records_to_retry`)."""
    if kind is SourceKind.SQS_FIFO:
        reported = records[failed[0] :] if failed else []
    else:
        reported = [records[record] for record in failed]
    identifiers: list[str] = []
    seen: set[str] = set()
    for record in reported:
        if record.identifier is None:
            # An empty or unknown identifier would fail the whole batch anyway; say why instead.
            raise InvocationError("a record that must be retried has no identifier; the whole batch is retried")
        if record.identifier not in seen:
            seen.add(record.identifier)
            identifiers.append(record.identifier)
    return [{"itemIdentifier": identifier} for identifier in identifiers]
