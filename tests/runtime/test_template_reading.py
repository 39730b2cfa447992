"""The functions' settings and environment, read from the built template as the pinned SAM CLI reads them for
`sam local` (its own provider, run in .venv/deploy), and overridden as SAM's --env-vars file would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from localdev.emulator.environment import function_environment, overrides_for
from localdev.emulator.functions import BUILD, host_architecture, read_functions
from localdev.emulator.session import Session
from localdev.emulator.toolchain import DEPLOY_VENV, ROOT

# samcli's own reading of the built template, for this machine's architecture, printed as JSON.
SAM_READS = """
import json, sys
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.lambdafn.env_vars import EnvironmentVariables

stacks, _ = SamLocalStackProvider.get_stacks(sys.argv[1], parameter_overrides=json.loads(sys.argv[2]))
text = EnvironmentVariables()._stringify_value
print(json.dumps({
    f.name: {
        "code": f.codeuri, "layers": [layer.codeuri for layer in f.layers], "handler": f.handler,
        "runtime": f.runtime, "memory_mb": f.memory, "timeout_s": f.timeout,
        "variables": {k: text(v) for k, v in (f.environment or {}).get("Variables", {}).items()},
    }
    for f in SamFunctionProvider(stacks).get_all()
}))
"""


def sam_reads(overrides: dict[str, str]) -> dict[str, Any]:
    command = [
        str(DEPLOY_VENV / "bin" / "python"),
        "-c",
        SAM_READS,
        str(BUILD / "template.yaml"),
        json.dumps(overrides),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    read: dict[str, Any] = json.loads(done.stdout)
    return read


def test_functions_read_as_sam_local_reads_them(session: Session) -> None:
    # Two parameters overridden, the rest at their defaults (MixpanelProjectId has none: SAM gives its name).
    overrides = {"FunctionMemory": "512", "LogLevel": "DEBUG"}
    expected = sam_reads({"Architecture": host_architecture(), **overrides})

    functions = read_functions(BUILD, overrides)

    assert sorted(functions) == sorted(expected)
    for name, spec in functions.items():
        sam = expected[name]
        assert spec.code == (ROOT / sam["code"]).resolve()
        assert list(spec.layers) == [(ROOT / layer).resolve() for layer in sam["layers"]]
        assert (spec.handler, spec.runtime, spec.memory_mb, spec.timeout_s) == (
            sam["handler"],
            sam["runtime"],
            int(sam["memory_mb"]),  # SAM keeps an overridden value as the text given
            sam["timeout_s"],
        )
        assert spec.variables == sam["variables"]


def test_layer_is_the_one_built_for_this_machine(session: Session) -> None:
    machine = {"x86_64": "X8664", "arm64": "Arm64"}[host_architecture()]

    for spec in session.functions.values():
        assert [layer.name for layer in spec.layers] == [f"ForwarderLayer{machine}"]


def test_env_vars_file_overrides_per_function_over_parameters(session: Session) -> None:
    spec = session.function("SqsForwarderFunction")
    values = {
        "Parameters": {"LOG_LEVEL_FOR_ALL": "x", "POWERTOOLS_LOG_LEVEL": "ERROR"},
        "SqsForwarderFunction": {"POWERTOOLS_LOG_LEVEL": "DEBUG", "MIXPANEL_API_URL": "http://127.0.0.1:9"},
        "KinesisForwarderFunction": {"POWERTOOLS_LOG_LEVEL": "WARNING"},
    }

    env = function_environment(spec, {"MIXPANEL_API_URL": "http://sink"}, overrides_for(spec.name, values))

    assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert env["LOG_LEVEL_FOR_ALL"] == "x"
    assert env["MIXPANEL_API_URL"] == "http://127.0.0.1:9"  # not declared in the template: added all the same
    assert env["MIXPANEL_REGION"] == "US"  # the template's, at the parameter's default
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == str(spec.timeout_s)
    assert env["PYTHONPATH"].split(":") == [str(spec.code), *(str(layer / "python") for layer in spec.layers)]


def test_no_shell_variable_reaches_the_function(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL_ONLY_SECRET", "must-not-leak")

    env = function_environment(session.function("SqsForwarderFunction"))

    assert "SHELL_ONLY_SECRET" not in env
    assert Path(env["LAMBDA_TASK_ROOT"]).is_relative_to(BUILD)
