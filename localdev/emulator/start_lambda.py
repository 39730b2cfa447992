"""`make start-lambda [PORT=3001] [ENV_VARS=...] [PARAMETERS=...]`: every function of the built template behind
the Lambda Invoke API on 127.0.0.1, like `sam local start-lambda` without Docker: one warm emulator per function
(awslambdaric on Python 3.13), against the embedded Mixpanel sink unless ENV_VARS points elsewhere.

    aws lambda invoke --endpoint-url http://127.0.0.1:3001 --function-name SqsForwarderFunction \\
        --cli-binary-format raw-in-base64-out --payload file://events/sqs-standard.json out.json

Runs until interrupted (Ctrl-C, or SIGTERM), then stops every emulator and the sink.
"""

from __future__ import annotations

import argparse
import signal
import sys
from contextlib import ExitStack, suppress
from pathlib import Path
from types import FrameType

from localdev.sink import MixpanelSink

from .errors import LocalRunError
from .server import InvokeFront
from .session import prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.emulator.start_lambda", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001, help="0: any free port")
    parser.add_argument("--env-vars", type=Path, help="variables in SAM's --env-vars format")
    parser.add_argument("--parameter-overrides", default="", help="template parameters: 'Name=value ...'")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)  # so that a plain `kill` also stops the emulators, which run apart
    with ExitStack() as running:
        try:
            session = prepare(args.env_vars, args.parameter_overrides)
            front = InvokeFront({}, args.host, args.port)  # bound first: a busy port stops us before anything runs
            running.callback(front.stop)
            sink = running.enter_context(MixpanelSink())
            for name, spec in sorted(session.functions.items()):
                front.emulators[name] = running.enter_context(session.emulator(spec, sink, echo=sys.stdout))
        except LocalRunError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"Lambda Invoke API at {front.url} for {', '.join(sorted(front.emulators))}", flush=True)
        print(f"embedded Mixpanel sink at {sink.url} (GET {sink.url}/events lists what it imported)", flush=True)
        with suppress(KeyboardInterrupt):  # Ctrl-C or SIGTERM: the ExitStack stops everything
            front.serve_forever()
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
