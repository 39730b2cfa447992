"""Docker-free local invoke: run a function's real handler on an event file, as `sam local invoke -e` would.

    python -m localdev.invoke sqs events/sqs-standard.json            # against the embedded sink
    python -m localdev.invoke kinesis events/kinesis-kpl.json --url https://api-eu.mixpanel.com

The handler is loaded from functions/<name>_forwarder/app.py, with the layer's library importable, and
called with a Lambda-like context whose remaining time counts down.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from localdev.eventgen import lambda_context

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {"sqs": ROOT / "functions/sqs_forwarder/app.py", "kinesis": ROOT / "functions/kinesis_forwarder/app.py"}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class Invocation:
    response: dict[str, Any]
    summary: dict[str, Any]


def load_handler(function: str) -> Handler:
    """The function's `lambda_handler`, loaded from its file the way Lambda loads `app.lambda_handler`."""
    path = FUNCTIONS[function]
    spec = importlib.util.spec_from_file_location(f"{function}_forwarder_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = module.lambda_handler
    return handler


def function_for(event: Mapping[str, Any]) -> str:
    """sqs or kinesis, from the first record's eventSource."""
    records = event.get("Records") or [{}]
    source = records[0].get("eventSource", "") if isinstance(records[0], dict) else ""
    return "kinesis" if source == "aws:kinesis" else "sqs"


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def invoke(function: str, event: dict[str, Any], env: Mapping[str, str], remaining_ms: int = 60_000) -> Invocation:
    """Runs the real handler with `env` set, as a fresh container would (settings read anew)."""
    from mixpanel_forwarder import runtime

    with environment(env):
        runtime.reset()
        handler = load_handler(function)
        response = handler(event, lambda_context(remaining_ms=remaining_ms, function_name=f"{function}-forwarder"))
        result = runtime.last_result()
        runtime.reset()
    return Invocation(response, result.summary() if result is not None else {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.invoke", description=__doc__.split("\n")[0])
    parser.add_argument("function", choices=[*FUNCTIONS, "auto"], help="which function's handler to run")
    parser.add_argument("event", type=Path, help="an event file, e.g. events/sqs-standard.json")
    parser.add_argument("--url", help="Mixpanel API URL (default: MIXPANEL_API_URL, else the embedded sink)")
    parser.add_argument("--remaining-ms", type=int, default=60_000, help="the function's time left at the start")
    parser.add_argument("--logs", action="store_true", help="also print the JSON logs and EMF metrics")
    args = parser.parse_args(argv)
    if not args.logs:  # the response and summary are printed below, as one JSON document
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

    event = json.loads(args.event.read_text())
    function = function_for(event) if args.function == "auto" else args.function
    url = args.url or os.environ.get("MIXPANEL_API_URL")
    if url is None:
        from localdev.sink import MixpanelSink

        with MixpanelSink() as sink:
            outcome = invoke(function, event, sink.env(), args.remaining_ms)
            imported = sink.events
        print(f"embedded sink imported {len(imported)} event(s)")
    else:
        outcome = invoke(function, event, {"MIXPANEL_API_URL": url}, args.remaining_ms)
    print(json.dumps({"response": outcome.response, "summary": outcome.summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
