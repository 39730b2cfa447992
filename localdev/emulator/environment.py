"""A function's environment variables, as Lambda would set them, and SAM's `--env-vars` file that overrides them.

The order: Lambda's own variables (name, memory, timeout, region, task root), then the template's (functions.py),
then the overrides. Unlike `sam local`, an override may add a variable the template does not declare (SAM drops
those): that is how the embedded sink's URL reaches a function whose template has no MIXPANEL_API_URL. A name or
value no environment can hold is refused as the file is read; a name that is nearly a forwarder setting is warned of.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mixpanel_forwarder.setting_names import misspelt_settings

from .errors import LocalRunError
from .functions import FunctionSpec

ENV_VARS_FORMAT = (
    'SAM\'s --env-vars format: {"Parameters": {"NAME": "value"}, "SqsForwarderFunction": {"NAME": "value"}}'
)
# What `sam local` gives a function that has no AWS credentials of its own: enough for boto3 to sign a request to a
# local endpoint (AWS_ENDPOINT_URL), never a real account's.
PLACEHOLDER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "defaultkey", "AWS_SECRET_ACCESS_KEY": "defaultsecret"}
REGION = "us-east-1"


def read_env_vars(path: Path) -> dict[str, dict[str, str]]:
    """An --env-vars file: per function (by logical id) and for all ("Parameters"), variable name to value."""
    try:
        document: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise LocalRunError(f"{path}: no such file (ENV_VARS names a JSON file in {ENV_VARS_FORMAT})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LocalRunError(f"{path} is not JSON ({exc}): write it in {ENV_VARS_FORMAT}") from None
    except RecursionError:
        raise LocalRunError(f"{path} is nested too deeply for a JSON parser: write it in {ENV_VARS_FORMAT}") from None
    if not isinstance(document, dict) or not all(isinstance(values, dict) for values in document.values()):
        raise LocalRunError(f"{path} is not in {ENV_VARS_FORMAT}")
    values = {section: {name: _text(value) for name, value in values.items()} for section, values in document.items()}
    for section, variables in values.items():
        for name, value in variables.items():
            _check_variable(path, section, name, value)
    return values


def misspelt_lines(path: Path, values: Mapping[str, Mapping[str, str]]) -> list[str]:
    """A warning for each variable of the file that is no forwarder setting but nearly one (`MIXPANEL_REGOIN`): the
    function would run with that setting at its default, and nothing else would say so."""
    return [
        f"warning: {path}: {section} sets {name}, which is no setting of the forwarder and is unused: "
        f"did you mean {setting}?"
        for section, variables in values.items()
        for name, setting in misspelt_settings(variables)
    ]


def check_sections(path: Path, values: Mapping[str, object], functions: Mapping[str, FunctionSpec]) -> None:
    """A section naming no function of the template is a typo that SAM would silently ignore."""
    unknown = sorted(set(values) - {"Parameters", *functions})
    if unknown:
        raise LocalRunError(
            f"{path} names {', '.join(unknown)}, which template.yaml does not define: use one of "
            f"{', '.join(sorted(functions))} or Parameters"
        )


def overrides_for(function: str, values: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The file's values for one function: "Parameters" first, the function's own section over them."""
    return {**values.get("Parameters", {}), **values.get(function, {})}


def function_environment(spec: FunctionSpec, *overrides: Mapping[str, str]) -> dict[str, str]:
    """Every variable the function's process sees: nothing of this shell's environment leaks in, as in Lambda."""
    task_root = str(spec.code)
    lambda_own = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": task_root,
        # Lambda's sys.path: the function's folder, then each layer's python/ (/opt/python).
        "PYTHONPATH": ":".join([task_root, *(str(layer / "python") for layer in spec.layers)]),
        # Lambda's /var/task and /opt are read-only: the built artifact is never written to.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_s),  # the emulator ends the invocation after it
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **PLACEHOLDER_CREDENTIALS,
    }
    merged = {**lambda_own, **spec.variables}
    for values in overrides:
        merged.update(values)
    return merged


def _check_variable(path: Path, section: str, name: str, value: str) -> None:
    """What no process's environment can hold, refused here, naming it, rather than by the launch (a ValueError, or
    a UnicodeEncodeError for an unpaired surrogate, which JSON's "\\ud800" escape can write)."""
    if not name or "=" in name or "\0" in name or not _encodable(name):
        raise LocalRunError(
            f"{path}: {section} sets a variable named {name!r}, which no environment can hold (a name is not empty "
            "and has no '=', NUL character or unpaired surrogate): rename it"
        )
    if "\0" in value or not _encodable(value):
        raise LocalRunError(
            f"{path}: {section} sets {name} to a value holding a NUL character or an unpaired surrogate, which no "
            "environment can: remove it"
        )


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _text(value: object) -> str:
    """SAM's rule for a value in the file: JSON true/false as Lambda would see them, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None or isinstance(value, dict | list) else str(value)
