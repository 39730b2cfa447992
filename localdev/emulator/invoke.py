"""`make invoke FUNCTION=... EVENT=... [ENV_VARS=...] [PARAMETERS=...]`: one invocation of a function's built code
in the real Lambda runtime (awslambdaric on Python 3.13, under the Runtime Interface Emulator), like
`sam local invoke` without Docker, against the embedded Mixpanel sink unless ENV_VARS points elsewhere.

    python -m localdev.emulator.invoke SqsForwarderFunction events/sqs-standard.json [--env-vars FILE]

Prints the emulator's log (START, the function's own lines, END, REPORT), a line on what the sink received, and
the function's response as the last line, in JSON. Exits 1 when the function failed or timed out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localdev.sink import MixpanelSink

from .answers import function_reply
from .errors import LocalRunError
from .session import one_line, prepare, read_event, sink_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.emulator.invoke", description=__doc__.split("\n")[0])
    parser.add_argument("function", help="a function of template.yaml, e.g. SqsForwarderFunction")
    parser.add_argument("event", type=Path, help="a JSON event file, e.g. events/sqs-standard.json")
    parser.add_argument("--env-vars", type=Path, help="variables in SAM's --env-vars format")
    parser.add_argument("--parameter-overrides", default="", help="template parameters: 'Name=value ...'")
    args = parser.parse_args(argv)
    try:
        payload = read_event(args.event)
        session = prepare(args.env_vars, args.parameter_overrides)
        spec = session.function(args.function)
        with MixpanelSink() as sink:
            with session.emulator(spec, sink, echo=sys.stdout) as emulator:
                outcome = emulator.invoke(payload)
                emulator.log_of(outcome.request_id)  # its REPORT line is printed before the response
            summary = sink_summary(sink)
    except LocalRunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the emulator and the sink were stopped on the way out
        return 130
    reply = function_reply(outcome)
    print(summary)
    print(one_line(reply.body))
    return 1 if "X-Amz-Function-Error" in reply.headers else 0


if __name__ == "__main__":
    sys.exit(main())
