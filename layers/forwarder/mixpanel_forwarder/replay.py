"""Replay parked events: re-drive what the dead-letter queue holds through the same pipeline, once the
cause is fixed, and delete from the queue only what Mixpanel imported.

    python -m mixpanel_forwarder.replay --function NAME --dry-run     # what would be sent, nothing deleted
    python -m mixpanel_forwarder.replay --function NAME [--limit N]   # its queue, with its settings
    python -m mixpanel_forwarder.replay --queue-url URL [...]         # with the settings of this environment

It maps and sends as the function does: with `--function`, under the function's own settings (its environment, read
with lambda:GetFunctionConfiguration; its DEAD_LETTER_QUEUE_URL is the queue unless --queue-url says otherwise),
else under this environment's (MIXPANEL_* or MIXPANEL_CREDENTIALS_SECRET_ARN, TRANSFORMS, PAYLOAD_FORMAT, ...).
Parked events keep their source coordinates, so a replayed event gets the same `$insert_id` and time it would
have had, and Mixpanel deduplicates anything already imported. What fails again stays in the queue.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import aws, codec
from .deadletter import sqs_batches
from .errors import ConfigError, ForwarderError
from .forwarder import Forwarder
from .parked import ParkedReader
from .replay_source import ReplaySource
from .settings import Settings
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
    source = ReplaySource(settings.mapping_rules())
    report = ReplayReport()
    chunk: list[ParkedDocument] = []
    unfinished: dict[str, list[str]] = {}
    kept: list[str] = []  # receipts of what stays in the queue
    for parked in read_queue(sqs_client, queue_url, limit, unfinished):
        progress(1)
        if parked is None:
            continue
        chunk.append(parked)
        if len(chunk) >= REPLAY_CHUNK:
            kept += _replay_chunk(forwarder, source, sqs_client, queue_url, chunk, report, dry_run)
            chunk = []
    if chunk:
        kept += _replay_chunk(forwarder, source, sqs_client, queue_url, chunk, report, dry_run)
    report.incomplete_parts = sum(map(len, unfinished.values()))
    # Visible again once the queue is read to its end (released sooner, the same run would read them again), for
    # the next replay or a look, rather than after the visibility timeout.
    kept += [receipt for receipts in unfinished.values() for receipt in receipts]
    _in_batches(
        kept,
        lambda entries: sqs_client.change_message_visibility_batch(
            QueueUrl=queue_url, Entries=[{**entry, "VisibilityTimeout": 0} for entry in entries]
        ),
    )
    if dry_sender is not None:
        report.sample = dry_sender.events
    return report


def _replay_chunk(
    forwarder: Forwarder,
    source: ReplaySource,
    sqs_client: Any,
    queue_url: str,
    chunk: list[ParkedDocument],
    report: ReplayReport,
    dry_run: bool,
) -> list[str]:
    """Replays `chunk` and deletes what was imported (nothing in a dry run); the receipts of what stays."""
    result = forwarder.forward(source, [parked.document for parked in chunk], None)
    failed = {failure["itemIdentifier"] for failure in result.batch_item_failures}
    report.documents += len(chunk)
    counts = result.ledger.counts()
    report.imported_events += counts["imported"] + counts["user_updates_imported"] + counts["group_updates_imported"]
    report.filtered += counts["filtered"] + counts["user_updates_filtered"] + counts["group_updates_filtered"]
    report.kept_documents += len(failed)
    report.reasons.update(result.ledger.reasons())
    if dry_run:
        return [receipt for parked in chunk for receipt in parked.receipts]
    done = [receipt for i, parked in enumerate(chunk) if f"p{i}" not in failed for receipt in parked.receipts]
    _in_batches(done, lambda entries: sqs_client.delete_message_batch(QueueUrl=queue_url, Entries=entries))
    report.deleted_messages += len(done)
    return [receipt for i, parked in enumerate(chunk) if f"p{i}" in failed for receipt in parked.receipts]


def _in_batches(receipts: list[str], call: Callable[[list[dict[str, str]]], Any]) -> None:
    for chunk in sqs_batches([len(receipt) for receipt in receipts]):
        entries = [{"Id": str(n), "ReceiptHandle": receipts[i]} for n, i in enumerate(chunk)]
        answer = call(entries)
        failed = answer.get("Failed", []) if isinstance(answer, dict) else []
        if failed:
            raise ForwarderError(f"the dead-letter queue refused {len(failed)} of {len(entries)} deletions/releases")


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
    from tqdm import tqdm

    sqs_client = boto3.client("sqs")
    attributes = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    total = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    with tqdm(total=min(total, args.limit or total), unit="msg", desc="replaying", file=sys.stderr) as bar:
        report = replay(
            settings, queue_url, dry_run=args.dry_run, limit=args.limit, sqs_client=sqs_client, progress=bar.update
        )
    _print_report(report, args.dry_run)
    return 0


def _print_report(report: ReplayReport, dry_run: bool) -> None:
    verb = "would import" if dry_run else "imported"
    print(f"{report.documents} parked documents read; {verb} {report.imported_events} messages (events and updates)")
    if report.filtered:
        print(f"{report.filtered} filtered out by TRANSFORMS rules" + ("" if dry_run else ", and deleted"))
    if not dry_run:
        print(f"{report.deleted_messages} messages deleted from the queue")
    print(f"{report.kept_documents} documents stay parked" + (":" if report.reasons else ""))
    for reason, count in report.reasons.most_common(20):
        print(f"  {count:>6}  {reason}")
    if report.incomplete_parts:
        print(f"{report.incomplete_parts} messages are parts of documents whose other parts were not found; left as is")
    for event in report.sample:
        print(codec.dumps(event).decode())


if __name__ == "__main__":
    sys.exit(main())
