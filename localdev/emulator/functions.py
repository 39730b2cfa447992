"""The functions of the built template (.aws-sam/build/template.yaml) as `sam local` reads them: each one's built
folder, the built layer for this machine's architecture, its handler, memory, timeout and environment variables.

Parameters take their defaults, then the overrides given (as `sam local --parameter-overrides`); `Architecture`
is this machine's, so the layer chosen is the one built for it (`sam build` builds both). Values that cannot be
known locally are resolved as `sam local` resolves them: a Ref to a resource, or to a parameter without default, is
its logical id; anything else unresolved (Fn::GetAtt, Fn::Sub) is an empty string.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localdev.cfn import Template

from .errors import LocalRunError
from .toolchain import ROOT

BUILD = ROOT / ".aws-sam" / "build"
FUNCTION_TYPE = "AWS::Serverless::Function"
MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class FunctionSpec:
    """One function as it would run in Lambda."""

    name: str  # the logical id, which `sam local` also uses as the function's name
    code: Path  # the built function folder: Lambda's /var/task
    layers: tuple[Path, ...]  # built layer folders: Lambda's /opt
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    variables: dict[str, str]  # Environment.Variables, resolved


def host_architecture() -> str:
    """This machine's Lambda architecture: a layer's compiled wheels only load on their own."""
    machine = platform.machine().lower()
    if machine not in MACHINES:
        raise LocalRunError(f"Lambda runs on x86_64 or arm64, and this machine is {machine}: run it on one of those")
    return MACHINES[machine]


def read_functions(build: Path = BUILD, overrides: Mapping[str, str] | None = None) -> dict[str, FunctionSpec]:
    """Every function of the built template, by logical id."""
    built = build / "template.yaml"
    if not built.is_file():
        raise LocalRunError(f"no `sam build` output in {build}: run `make validate` (it runs `sam build`)")
    template = Template.read(built)
    unknown = sorted(set(overrides or {}) - set(template.parameters))
    if unknown:
        raise LocalRunError(f"template.yaml has no parameter {', '.join(unknown)}: check the parameter overrides")
    params: dict[str, Any] = {
        # A parameter without default stays a Ref, which resolves to its name, as in `sam local`.
        name: spec.get("Default", {"Ref": name})
        for name, spec in template.parameters.items()
    }
    if "Architecture" in params:
        params["Architecture"] = host_architecture()
    params.update(overrides or {})
    defaults = template.document.get("Globals", {}).get("Function", {})
    return {
        name: _spec(template, build, name, _with_globals(defaults, resource.get("Properties", {})), params)
        for name, resource in template.resources_of_type(FUNCTION_TYPE).items()
    }


def _spec(template: Template, build: Path, name: str, properties: dict[str, Any], params: Any) -> FunctionSpec:
    evaluated = template.evaluate(properties, params)
    layers = []
    for layer in evaluated.get("Layers", []):
        logical_id = layer.get("Ref") if isinstance(layer, dict) else None
        resource = template.resources.get(str(logical_id), {})
        if not resource:
            raise LocalRunError(f"{name} uses layer {layer}, which is not built here: only layers of template.yaml run")
        layers.append(build / resource["Properties"]["ContentUri"])
    variables = evaluated.get("Environment", {}).get("Variables", {})
    return FunctionSpec(
        name=name,
        code=build / evaluated["CodeUri"],
        layers=tuple(layers),
        handler=str(evaluated["Handler"]),
        runtime=str(evaluated["Runtime"]),
        memory_mb=int(evaluated.get("MemorySize", 128)),  # Lambda's defaults
        timeout_s=int(evaluated.get("Timeout", 3)),
        variables={key: _stringify(value) for key, value in variables.items()},
    )


def _with_globals(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals rule: maps are merged, lists are the global items then the function's, other values replaced."""
    merged = dict(defaults)
    for key, value in own.items():
        inherited = merged.get(key)
        if isinstance(inherited, dict) and isinstance(value, dict):
            merged[key] = _with_globals(inherited, value)
        elif isinstance(inherited, list) and isinstance(value, list):
            merged[key] = inherited + value
        else:
            merged[key] = value
    return merged


def _stringify(value: Any) -> str:
    """An environment value as `sam local` passes it (samcli EnvironmentVariables._stringify_value)."""
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return str(value["Ref"])  # SAM's symbol table answers a Ref it cannot resolve with the logical id
    if isinstance(value, dict | list) or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
