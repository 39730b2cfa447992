"""Replay parked events: re-drive what the dead-letter queue holds through the same pipeline, once the
cause is fixed, and delete from the queue only what Mixpanel imported.

    python -m mixpanel_forwarder.replay --function NAME --dry-run     # what would be sent, nothing deleted
    python -m mixpanel_forwarder.replay --function NAME [--limit N]   # its queue, with its settings
    python -m mixpanel_forwarder.replay --queue-url URL [...]         # with the settings of this environment

It maps and sends as the function does: with `--function`, under the function's own settings (its environment, read
with lambda:GetFunctionConfiguration; its DEAD_LETTER_QUEUE_URL is the queue unless --queue-url says otherwise),
else under this environment's (MIXPANEL_* or MIXPANEL_CREDENTIALS_SECRET_ARN, TRANSFORMS, PAYLOAD_FORMAT, ...).
Parked events keep their source coordinates, so a replayed event gets the same `$insert_id` and time it would
have had, and Mixpanel deduplicates anything already imported. What fails again stays in the queue; when other
messages of its document landed, a document naming only it takes the old one's place (replay_remainder.py).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import aws, codec
from .credentials import credentials_source
from .deadletter import SqsParker
from .errors import ConfigError, ForwarderError
from .forwarder import Forwarder
from .ledger import Ledger
from .replay_queue import ParkedDocument, in_batches, read_queue
from .replay_remainder import remainders
from .replay_source import ReplaySource
from .settings import Settings
from .transport import Endpoint, Response, Sender

REPLAY_CHUNK = 500  # parked documents per pass through the pipeline


@dataclass
class ReplayReport:
    documents: int = 0
    imported_events: int = 0
    filtered: int = 0  # filtered out by a TRANSFORMS rule: deleted from the queue, never sent
    deleted_messages: int = 0
    kept_documents: int = 0
    narrowed: int = 0  # of those kept, parked again naming only the messages that did not land
    reasons: Counter[str] = field(default_factory=Counter)
    incomplete_parts: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)


class DryRunSender:
    """Keeps what would be sent and answers as if Mixpanel took it: /import's count, or /engage's and /groups'
    verbose status 1. What it keeps is printed: never the project token a profile update carries."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.events: list[dict[str, Any]] = []

    def send(self, endpoint: Endpoint, body: bytes, timeout: float) -> Response:
        messages = codec.loads(codec.gunzip(body) if endpoint.content_encoding == "gzip" else body)
        if len(self.events) < self.keep:
            kept = messages[: self.keep - len(self.events)]
            self.events.extend(
                {k: v for k, v in one.items() if k != "$token"} if type(one) is dict else one for one in kept
            )
        if "/import" not in endpoint.url:
            return Response(200, b'{"status":1,"error":null}')
        return Response(200, codec.dumps({"code": 200, "num_records_imported": len(messages), "status": "OK"}))


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
    run = _Run(settings, queue_url, sqs_client, dry_run, sender)
    run.forwarder.check_credentials()  # ForwarderError before anything is taken from the queue
    chunk: list[ParkedDocument] = []
    unfinished: dict[str, list[str]] = {}
    documents = read_queue(sqs_client, queue_url, limit, unfinished, run.ours, run.kept)
    try:
        for parked in documents:
            if parked is not None and parked.problem is not None:
                run.keep_unreadable(parked)
            elif parked is not None:
                chunk.append(parked)
            progress(1)
            if len(chunk) >= REPLAY_CHUNK:
                run.replay_chunk(chunk)
                chunk = []
        if chunk:
            run.replay_chunk(chunk)
            chunk = []
    finally:
        documents.close()  # what it received and did not hand out goes to run.kept
        # Visible again once the queue is read to its end (released sooner, the same run would read them again), for
        # the next replay or a look, rather than after the visibility timeout; and so when the run stops half-way
        # (interrupted, or a call to the queue failed), with the documents read and not yet replayed.
        run.report.incomplete_parts = sum(map(len, unfinished.values()))
        run.kept += [receipt for receipts in unfinished.values() for receipt in receipts]
        run.kept += [receipt for parked in chunk for receipt in parked.receipts]
        in_batches(
            run.kept,
            lambda entries: sqs_client.change_message_visibility_batch(
                QueueUrl=queue_url, Entries=[{**entry, "VisibilityTimeout": 0} for entry in entries]
            ),
        )
    if run.dry_sender is not None:
        run.report.sample = run.dry_sender.events
    return run.report


class _Run:
    """One replay: the pipeline it sends through, the queue, and what it has kept and parked so far."""

    def __init__(self, settings: Settings, queue_url: str, sqs_client: Any, dry_run: bool, sender: Sender | None):
        self.dry_sender = DryRunSender(keep=5) if dry_run else None
        # Without a dead-letter queue of its own, what fails again is reported, i.e. left where it is (or, when part
        # of its document landed, parked again narrowed: replay_remainder).
        self.forwarder = Forwarder(settings._replace(dead_letter_queue_url=None), sender=self.dry_sender or sender)
        self.rules = settings.mapping_rules()
        self.source = ReplaySource(self.rules)
        self.parker = SqsParker(queue_url, bucket=settings.dead_letter_bucket, sqs_client=sqs_client)
        self.queue_url = queue_url
        self.sqs_client = sqs_client
        self.report = ReplayReport()
        self.kept: list[str] = []  # receipts of what stays in the queue as it is, released at the end
        self.ours: set[str] = set()  # ids of the messages this run parked

    def keep_unreadable(self, parked: ParkedDocument) -> None:
        """A message that is no parked document (edited or cut short), or whose stored document cannot be read: it
        stays in the queue as it is, counted among the documents kept with why."""
        self.report.documents += 1
        self.report.kept_documents += 1
        self.report.reasons[f"document: {parked.problem}"] += 1
        self.kept += parked.receipts

    def replay_chunk(self, chunk: list[ParkedDocument]) -> None:
        """Replays `chunk` and deletes what landed (nothing in a dry run); a document of which only some messages
        landed is parked again naming the others, then deleted; the rest is kept."""
        report = self.report
        documents = [parked.document for parked in chunk]
        result = self.forwarder.forward(self.source, documents, None)
        failed = {int(failure["itemIdentifier"][1:]) for failure in result.batch_item_failures}
        report.documents += len(chunk)
        counts = result.ledger.counts()
        imported = counts["imported"] + counts["user_updates_imported"] + counts["group_updates_imported"]
        report.imported_events += imported
        report.filtered += counts["filtered"] + counts["user_updates_filtered"] + counts["group_updates_filtered"]
        report.kept_documents += len(failed)
        report.reasons.update(result.ledger.reasons())
        if self.dry_sender is not None:
            self.kept += [receipt for parked in chunk for receipt in parked.receipts]
            return
        narrowed = self._park_remainders(result.ledger, documents, failed)
        report.narrowed += len(narrowed)
        done = [
            receipt for i, parked in enumerate(chunk) if i not in failed or i in narrowed for receipt in parked.receipts
        ]
        in_batches(done, lambda entries: self.sqs_client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries))
        report.deleted_messages += len(done)
        self.kept += [
            receipt
            for i, parked in enumerate(chunk)
            if i in failed and i not in narrowed
            for receipt in parked.receipts
        ]

    def _park_remainders(self, ledger: Ledger, documents: list[dict[str, Any]], failed: set[int]) -> set[int]:
        """The numbers of the documents parked again narrowed to what did not land (replay_remainder)."""
        _, records = self.source.source_records(documents)
        rests = remainders(ledger, records, sorted(failed), self.rules, self.source.decode)
        if not rests:
            return set()
        owners = [number for number, rest in rests.items() for _ in rest]
        sent_ids: list[str] = []
        stored = self.parker.park([parked for rest in rests.values() for parked in rest], sent_ids=sent_ids)
        self.ours.update(sent_ids)
        whole = set(rests)
        for number, ok in zip(owners, stored, strict=True):
            if not ok:
                whole.discard(number)  # kept as it was: what did land would be sent again, but nothing is lost
        return whole


def function_settings(function: str, lambda_client: Any = None) -> Settings:
    """The settings a deployed forwarder function runs with: its environment, read with GetFunctionConfiguration.

    ForwarderError naming the function when it cannot be read (denied, not found, no credentials); ConfigError when
    a variable of it is refused (the message says the function's)."""
    if lambda_client is None:
        import boto3

        lambda_client = boto3.client("lambda")
    try:
        configuration = lambda_client.get_function_configuration(FunctionName=function)
    except Exception as exc:  # botocore's errors (AccessDeniedException, ResourceNotFoundException, no credentials)
        # botocore's message names the error code, or says what else went wrong; never a secret
        detail = aws.describe(exc)["detail"]
        raise ForwarderError(
            f"cannot read the settings of the function {function!r} (lambda:GetFunctionConfiguration): {detail}"
        ) from None
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    try:
        return Settings.from_env(variables)
    except ConfigError as exc:
        problem = str(exc).removeprefix(f"{exc.variable}: ")
        raise ConfigError(exc.variable, f"{problem} (in the environment of the function {function!r})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mixpanel_forwarder.replay", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--function",
        help="the forwarder function (name or ARN) whose settings to replay with; its queue unless --queue-url",
    )
    parser.add_argument("--queue-url", help="the forwarder's dead-letter queue (DEAD_LETTER_QUEUE_URL)")
    parser.add_argument("--dry-run", action="store_true", help="show what would be sent; send and delete nothing")
    parser.add_argument("--limit", type=int, help="replay at most this many parked documents")
    args = parser.parse_args(argv)
    try:
        settings = function_settings(args.function) if args.function else Settings.from_env()
    except ForwarderError as exc:  # a line that says what to fix, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    queue_url = args.queue_url or (settings.dead_letter_queue_url if args.function else None)
    if not queue_url:
        parser.error("--queue-url is needed (or --function, whose DEAD_LETTER_QUEUE_URL is the queue)")

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from tqdm import tqdm

    sqs_client = boto3.client("sqs")
    try:
        # Before the queue is read or the progress bar drawn: credentials that cannot be had stop it in one line
        credentials_source(settings.credentials, settings.credentials_secret_arn, settings.project_id).get()
        attributes = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        total = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        with tqdm(total=min(total, args.limit or total), unit="msg", desc="replaying", file=sys.stderr) as bar:
            report = replay(
                settings, queue_url, dry_run=args.dry_run, limit=args.limit, sqs_client=sqs_client, progress=bar.update
            )
    except ForwarderError as exc:  # the credentials cannot be read, the queue refused a deletion: one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:  # the queue is not there, or not for these credentials
        print(f"error: the parked-events queue {queue_url}: {aws.describe(exc)['detail']}", file=sys.stderr)
        return 2
    _print_report(report, args.dry_run)
    return 0


def _print_report(report: ReplayReport, dry_run: bool) -> None:
    verb = "would import" if dry_run else "imported"
    print(f"{report.documents} parked documents read; {verb} {report.imported_events} messages (events and updates)")
    if report.filtered:
        print(f"{report.filtered} filtered out by TRANSFORMS rules" + ("" if dry_run else ", and deleted"))
    if not dry_run:
        print(f"{report.deleted_messages} messages deleted from the queue")
    narrowed = (
        f" ({report.narrowed} of them in a new document naming only what did not land)" if report.narrowed else ""
    )
    print(f"{report.kept_documents} documents stay parked{narrowed}" + (":" if report.reasons else ""))
    for reason, count in report.reasons.most_common(20):
        print(f"  {count:>6}  {reason}")
    if report.incomplete_parts:
        print(f"{report.incomplete_parts} messages are parts of documents whose other parts were not found; left as is")
    for event in report.sample:
        print(codec.dumps(event).decode())


if __name__ == "__main__":
    sys.exit(main())
