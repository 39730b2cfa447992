"""Replay parked events: re-drive what the dead-letter queue holds through the same pipeline, once the
cause is fixed, and delete from the queue only what Mixpanel imported.

    python -m mixpanel_forwarder.replay --queue-url URL --dry-run     # what would be sent, nothing deleted
    python -m mixpanel_forwarder.replay --queue-url URL [--limit N]

It reads the same settings as the functions (MIXPANEL_* or MIXPANEL_CREDENTIALS_SECRET_ARN). Parked
events keep their source coordinates, so a replayed event gets the same `$insert_id` and time it would
have had, and Mixpanel deduplicates anything already imported. What fails again stays in the queue.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import codec
from .deadletter import sqs_batches
from .errors import DecodeError, ForwarderError
from .forwarder import Forwarder
from .model import Item, SourceKind, SourceRecord
from .parked import ParkedReader, failures
from .settings import Settings
from .sources import kinesis, sqs
from .transport import Endpoint, Response, Sender

RECEIVE_BATCH = 10
REPLAY_CHUNK = 500  # parked documents per pass through the pipeline
VISIBILITY_SECONDS = 300  # long enough to replay a chunk before the messages show up again


@dataclass
class ParkedDocument:
    document: dict[str, Any]
    receipts: list[str]  # every SQS message it came in (several when it was parked in parts)


@dataclass
class ReplayReport:
    documents: int = 0
    imported_events: int = 0
    filtered: int = 0  # filtered out by a TRANSFORMS rule: deleted from the queue, never sent
    deleted_messages: int = 0
    kept_documents: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    incomplete_parts: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)


class ReplaySource:
    """A parked document as a source record: a whole record is decoded again, an event is an item."""

    NAME = "replay"

    def source_records(self, event: Any) -> tuple[SourceKind, list[SourceRecord]]:
        return SourceKind.SQS, [SourceRecord(f"p{i}", doc, doc.get("source", {})) for i, doc in enumerate(event)]

    def decode(self, record: SourceRecord) -> list[Item]:
        document = record.raw
        if "events" in document:  # several events of one record, parked together
            return [_parked_item(one) for one in failures(document)]
        if "event" in document:
            return [_parked_item(document)]
        raw = document.get("record")
        if not isinstance(raw, dict):
            raise DecodeError("parked document holds neither an event nor a record")
        module = kinesis if raw.get("eventSource") == "aws:kinesis" or "kinesis" in raw else sqs
        _, [original] = module.source_records({"Records": [raw]})
        items: list[Item] = module.decode(original)
        return items


class SentItem(Item):
    """A message parked after Mixpanel refused it: as it was sent, in Mixpanel's shape and transformed already, so
    neither PAYLOAD_FORMAT nor TRANSFORMS apply to it again (a hashed value would be hashed twice)."""

    __slots__ = ()
    sent = True


def _parked_item(document: dict[str, Any]) -> Item:
    source = document.get("source") or {}
    key = source.get("item")
    if not isinstance(key, str):
        # Parked after Mixpanel refused it: it was sent, so it has its $insert_id and this key is unused.
        key = "parked:" + hashlib.blake2b(codec.dumps(document), digest_size=16).hexdigest()
        return SentItem(document["event"], key, source.get("defaultTimeMs"))
    return Item(document["event"], key, source.get("defaultTimeMs"))


class DryRunSender:
    """Keeps what would be sent and answers as if Mixpanel took it: /import's count, or /engage's and /groups'
    verbose status 1."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.events: list[dict[str, Any]] = []

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        messages = codec.loads(codec.gunzip(body) if endpoint.content_encoding == "gzip" else body)
        if len(self.events) < self.keep:
            self.events.extend(messages[: self.keep - len(self.events)])
        if "/import" not in endpoint.url:
            return Response(200, b'{"status":1,"error":null}')
        return Response(200, codec.dumps({"code": 200, "num_records_imported": len(messages), "status": "OK"}))


def read_queue(
    sqs_client: Any, queue_url: str, limit: int | None, receipts_of_part: dict[str, list[str]]
) -> Iterator[ParkedDocument | None]:
    """Parked documents as they become whole; None for a message that is one part of an unfinished one.

    `receipts_of_part` is left holding the messages of documents whose other parts never came.
    """
    reader = ParkedReader()
    seen = 0
    while limit is None or seen < limit:
        answer = sqs_client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=RECEIVE_BATCH,
            VisibilityTimeout=VISIBILITY_SECONDS,
            WaitTimeSeconds=1,
        )
        messages = answer.get("Messages", [])
        if not messages:
            return
        for message in messages:
            body, receipt = message["Body"], message["ReceiptHandle"]
            part = codec.loads(body).get("part")
            document = reader.read(body)
            if isinstance(part, dict):
                receipts = receipts_of_part.setdefault(str(part["id"]), [])
                receipts.append(receipt)
                if document is None:
                    yield None
                    continue
                del receipts_of_part[str(part["id"])]
            else:
                receipts = [receipt]
            seen += 1
            yield ParkedDocument(document, receipts) if document is not None else None


def replay(
    settings: Settings,
    queue_url: str,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    sqs_client: Any = None,
    sender: Sender | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> ReplayReport:
    if sqs_client is None:
        import boto3

        sqs_client = boto3.client("sqs")
    dry_sender = DryRunSender(keep=5) if dry_run else None
    # Without a dead-letter queue of its own, what fails again is reported, i.e. left where it is.
    forwarder = Forwarder(settings._replace(dead_letter_queue_url=None), sender=dry_sender or sender)
    report = ReplayReport()
    chunk: list[ParkedDocument] = []
    unfinished: dict[str, list[str]] = {}
    for parked in read_queue(sqs_client, queue_url, limit, unfinished):
        progress(1)
        if parked is None:
            continue
        chunk.append(parked)
        if len(chunk) >= REPLAY_CHUNK:
            _replay_chunk(forwarder, sqs_client, queue_url, chunk, report, dry_run)
            chunk = []
    if chunk:
        _replay_chunk(forwarder, sqs_client, queue_url, chunk, report, dry_run)
    report.incomplete_parts = sum(map(len, unfinished.values()))
    if dry_sender is not None:
        report.sample = dry_sender.events
    return report


def _replay_chunk(
    forwarder: Forwarder,
    sqs_client: Any,
    queue_url: str,
    chunk: list[ParkedDocument],
    report: ReplayReport,
    dry_run: bool,
) -> None:
    result = forwarder.forward(ReplaySource(), [parked.document for parked in chunk], None)
    kept = {failure["itemIdentifier"] for failure in result.batch_item_failures}
    report.documents += len(chunk)
    counts = result.ledger.counts()
    report.imported_events += counts["imported"] + counts["user_updates_imported"] + counts["group_updates_imported"]
    report.filtered += counts["filtered"] + counts["user_updates_filtered"] + counts["group_updates_filtered"]
    report.kept_documents += len(kept)
    report.reasons.update(result.ledger.reasons())
    done = [receipt for i, parked in enumerate(chunk) if f"p{i}" not in kept for receipt in parked.receipts]
    if dry_run:
        # Nothing is deleted: make every message visible again at once.
        done = [receipt for parked in chunk for receipt in parked.receipts]
        _in_batches(
            done,
            lambda entries: sqs_client.change_message_visibility_batch(
                QueueUrl=queue_url, Entries=[{**entry, "VisibilityTimeout": 0} for entry in entries]
            ),
        )
        return
    _in_batches(done, lambda entries: sqs_client.delete_message_batch(QueueUrl=queue_url, Entries=entries))
    report.deleted_messages += len(done)


def _in_batches(receipts: list[str], call: Callable[[list[dict[str, str]]], Any]) -> None:
    for chunk in sqs_batches([len(receipt) for receipt in receipts]):
        entries = [{"Id": str(n), "ReceiptHandle": receipts[i]} for n, i in enumerate(chunk)]
        answer = call(entries)
        failed = answer.get("Failed", []) if isinstance(answer, dict) else []
        if failed:
            raise ForwarderError(f"the dead-letter queue refused {len(failed)} of {len(entries)} deletions/releases")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mixpanel_forwarder.replay", description=__doc__.split("\n")[0])
    parser.add_argument("--queue-url", required=True, help="the forwarder's dead-letter queue (DEAD_LETTER_QUEUE_URL)")
    parser.add_argument("--dry-run", action="store_true", help="show what would be sent; send and delete nothing")
    parser.add_argument("--limit", type=int, help="replay at most this many parked documents")
    args = parser.parse_args(argv)

    import boto3
    from tqdm import tqdm

    sqs_client = boto3.client("sqs")
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=args.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    total = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    with tqdm(total=min(total, args.limit or total), unit="msg", desc="replaying", file=sys.stderr) as bar:
        report = replay(
            Settings.from_env(),
            args.queue_url,
            dry_run=args.dry_run,
            limit=args.limit,
            sqs_client=sqs_client,
            progress=bar.update,
        )
    verb = "would import" if args.dry_run else "imported"
    print(f"{report.documents} parked documents read; {verb} {report.imported_events} events")
    if report.filtered:
        print(f"{report.filtered} filtered out by TRANSFORMS rules" + ("" if args.dry_run else ", and deleted"))
    if not args.dry_run:
        print(f"{report.deleted_messages} messages deleted from the queue")
    print(f"{report.kept_documents} documents stay parked" + (":" if report.reasons else ""))
    for reason, count in report.reasons.most_common(20):
        print(f"  {count:>6}  {reason}")
    if report.incomplete_parts:
        print(f"{report.incomplete_parts} messages are parts of documents whose other parts were not found; left as is")
    for event in report.sample:
        print(codec.dumps(event).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
