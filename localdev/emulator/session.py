"""What `make invoke` and `make start-lambda` set up before anything runs: the built functions, every input
checked (so a mistake stops with one line before a process starts), and each function's environment: the
template's, pointed at the embedded Mixpanel sink, then the --env-vars file's values.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from localdev.sink import MixpanelSink

from .answers import MAX_PAYLOAD_BYTES, payload_problem
from .environment import check_sections, function_environment, misspelt_lines, overrides_for, read_env_vars
from .errors import LocalRunError
from .functions import BUILD, FunctionSpec, host_architecture, read_functions
from .process import Emulator
from .toolchain import emulator_binary, runtime_python


@dataclass
class Session:
    functions: dict[str, FunctionSpec]
    python: Path
    binary: Path
    env_values: dict[str, dict[str, str]] = field(default_factory=dict)

    def function(self, name: str) -> FunctionSpec:
        if name not in self.functions:
            raise LocalRunError(
                f"template.yaml has no function {name!r}: use one of {', '.join(sorted(self.functions))}"
            )
        return self.functions[name]

    def emulator(
        self,
        spec: FunctionSpec,
        sink: MixpanelSink | None,
        echo: TextIO | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> Emulator:
        """`spec`'s emulator (not started): its environment pointing at `sink`, then `overrides`, then the
        --env-vars values."""
        defaults = sink_environment(sink) if sink is not None else {}
        file_values = overrides_for(spec.name, self.env_values)
        environment = function_environment(spec, defaults, overrides or {}, file_values)
        return Emulator(spec, environment, python=self.python, binary=self.binary, echo=echo)


def prepare(env_vars: Path | None = None, parameters: str = "", build: Path | None = None) -> Session:
    functions = read_functions(build or BUILD, parse_parameters(parameters))
    values: dict[str, dict[str, str]] = {}
    if env_vars is not None:
        values = read_env_vars(env_vars)
        check_sections(env_vars, values, functions)
        for line in misspelt_lines(env_vars, values):
            print(line, file=sys.stderr)  # the invocation still runs: the name may be meant for something else
    return Session(functions, runtime_python(), emulator_binary(host_architecture()), values)


def sink_environment(sink: MixpanelSink) -> dict[str, str]:
    """The embedded sink's account, and no AWS resource to reach (the template's secret and queue are only names
    locally): what localdev/sam-local-env.json sets for `sam local`."""
    return {
        **sink.env(),
        "MIXPANEL_PROJECT_TOKEN": str(sink.token),
        "MIXPANEL_CREDENTIALS_SECRET_ARN": "",
        "DEAD_LETTER_QUEUE_URL": "",
    }


def parse_parameters(text: str) -> dict[str, str]:
    """`sam local --parameter-overrides` in its short form: "Name=value Name2=value2"."""
    parameters = {}
    for item in shlex.split(text):
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise LocalRunError(f"parameter override {item!r} is not Name=value (e.g. PARAMETERS='LogLevel=DEBUG')")
        parameters[name] = value
    return parameters


def read_event(path: Path) -> bytes:
    """An event file, checked to be JSON as Lambda would check it, and sent as written."""
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise LocalRunError(
            f"cannot read the event {path} ({exc.strerror}): give a JSON file, e.g. EVENT=events/sqs-standard.json"
        ) from None
    if len(payload) > MAX_PAYLOAD_BYTES:  # what Lambda answers RequestTooLargeException (start-lambda: answers.py)
        raise LocalRunError(
            f"the event {path} is {len(payload)} bytes, over Lambda's {MAX_PAYLOAD_BYTES} for a synchronous "
            "invocation: split it (a real source sends at most one batch, 6 MB for SQS)"
        )
    problem = payload_problem(payload)
    if problem is not None:
        raise LocalRunError(f"the event {path} {problem}: give a JSON file, e.g. EVENT=events/sqs-standard.json")
    return payload


def one_line(body: bytes) -> str:
    """A response as one line of JSON (the runtime serialises on one line already; this makes sure)."""
    document: Any = json.loads(body)
    return json.dumps(document)


def sink_summary(sink: MixpanelSink) -> str:
    statuses: Mapping[str, Any] = sink.stats().get("by_status", {})
    return (
        f"embedded Mixpanel sink at {sink.url}: {len(sink.events)} event(s) imported, "
        f"{len(sink.updates)} profile update(s) applied, /import answers by status {json.dumps(statuses)}"
    )
