"""A small CloudFormation evaluator: reads a template as CloudFormation would for chosen parameters (the template
tests, and `localdev.emulator` for a function's settings and environment).

It reads YAML with CloudFormation's short forms (!Ref, !GetAtt, !Sub, ...) as their long forms, and evaluates what a
stack's choices depend on: Ref to a parameter, Ref to AWS::NoValue (the property or list item disappears),
Condition and the condition functions (Fn::Equals, Fn::Not, Fn::And, Fn::Or), Fn::If and Fn::FindInMap, and
Fn::Split, Fn::Select and Fn::Join over values already known.

It does not evaluate Ref or Fn::GetAtt of a resource, pseudo parameters (AWS::Region, AWS::StackName, ...) or
Fn::Sub: those stay as written, for the tests to compare. `Template.deployed` gives what a created stack knows
besides (each resource's Ref and attributes, the pseudo parameters), and the template it returns evaluates those
too. It applies no transform (SAM's Globals and resources, AWS::LanguageExtensions), checks no Rules, types or
AllowedValues, and validates nothing that cfn-lint or `sam validate` would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short forms (!Ref, !GetAtt, !Sub, !If, ...) as their long forms, and
    refuses a key given twice in one mapping (cfn-lint's E0000): PyYAML would keep the last one silently, as when a
    merge left a function two `Environment`s and the tests read the second."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"found {key!r} twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":  # !GetAtt Resource.Attribute is Fn::GetAtt: [Resource, Attribute]
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected YAML node for !{suffix}", node.start_mark)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _short_form)


def load_template(text: str) -> dict[str, Any]:
    document = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader with CloudFormation's tags
    if not isinstance(document, dict):
        raise ValueError("a template is a YAML mapping (AWSTemplateFormatVersion, Parameters, Resources, ...)")
    return document


class _Absent:
    """What `Ref: AWS::NoValue` leaves: the property or list item disappears."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()
_SUB_NAME = r"\$\{([^}!][^}]*)\}"  # ${name} in Fn::Sub; ${!name} is the literal text ${name}


class Template:
    """A template's sections, and its intrinsic functions evaluated for chosen parameter values."""

    def __init__(self, document: dict[str, Any], known: Mapping[str, Any] | None = None) -> None:
        self.document = document
        # What only a created stack knows: "Queue" (its Ref), "Queue.Arn" (an attribute), "AWS::Region". Empty here.
        self.known: dict[str, Any] = dict(known or {})
        self.parameters: dict[str, dict[str, Any]] = document.get("Parameters", {})
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})
        self.conditions: dict[str, Any] = document.get("Conditions", {})
        self.mappings: dict[str, Any] = document.get("Mappings", {})
        self.outputs: dict[str, dict[str, Any]] = document.get("Outputs", {})

    @classmethod
    def read(cls, path: Path) -> Template:
        return cls(load_template(path.read_text()))

    def deployed(self, known: Mapping[str, Any]) -> Template:
        """This template once its stack exists: `known` holds each resource's Ref value under its logical id, its
        attributes as "Name.Attribute", and the pseudo parameters ("AWS::Region", ...). Ref, Fn::GetAtt and Fn::Sub
        then evaluate to those values; what `known` lacks stays as written."""
        return Template(self.document, {**self.known, **known})

    def parameter_values(self, **overrides: Any) -> dict[str, Any]:
        """Every parameter at its default (a placeholder for those without), then the overrides."""
        values = {name: spec.get("Default", "1234") for name, spec in self.parameters.items()}
        values.update(overrides)
        return values

    def condition_holds(self, name: str, params: Mapping[str, Any]) -> bool:
        return bool(self.evaluate({"Condition": name}, params))

    def evaluate(self, value: Any, params: Mapping[str, Any]) -> Any:
        """`value` with the functions this module evaluates (see its docstring) evaluated; the rest as is."""
        if isinstance(value, list):
            return [item for item in (self.evaluate(item, params) for item in value) if item is not ABSENT]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" and argument in self.parameters:
                return params[argument]
            if key == "Ref" and argument == "AWS::NoValue":
                return ABSENT
            if key == "Ref" and argument in self.known:
                return self.known[argument]
            if key == "Fn::GetAtt" and ".".join(as_list(argument)) in self.known:
                return self.known[".".join(as_list(argument))]
            if key == "Fn::Sub" and self.known:
                return self._substituted(argument, params)
            if key == "Fn::Split":
                delimiter, source = self.evaluate(argument, params)
                return source.split(delimiter) if isinstance(source, str) else {key: [delimiter, source]}
            if key == "Fn::Select":
                index, items = self.evaluate(argument, params)
                return items[int(index)] if isinstance(items, list) else {key: [index, items]}
            if key == "Fn::Join":
                separator, items = self.evaluate(argument, params)
                if isinstance(items, list) and all(isinstance(item, str) for item in items):
                    return separator.join(items)
                return {key: [separator, items]}
            if key == "Condition":
                return self.evaluate(self.conditions[argument], params)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.evaluate(when_true if self.condition_holds(name, params) else when_false, params)
            if key == "Fn::Equals":
                left, right = (str(self.evaluate(item, params)) for item in argument)
                return left == right
            if key == "Fn::Not":
                return not self.evaluate(argument[0], params)
            if key == "Fn::And":
                return all(self.evaluate(item, params) for item in argument)
            if key == "Fn::Or":
                return any(self.evaluate(item, params) for item in argument)
            if key == "Fn::FindInMap":
                mapping, first, second = (self.evaluate(item, params) for item in argument)
                return self.mappings[mapping][str(first)][str(second)]
        evaluated = {key: self.evaluate(item, params) for key, item in value.items()}
        return {key: item for key, item in evaluated.items() if item is not ABSENT}

    def _substituted(self, argument: Any, params: Mapping[str, Any]) -> Any:
        """Fn::Sub's text with each ${name} replaced (its own variables, parameters, then what the stack knows);
        as written if any name is unknown. ${!name} is the literal ${name}."""
        text, own = (argument, {}) if isinstance(argument, str) else argument
        variables = {**self.known, **params, **self.evaluate(own, params)}
        names = re.findall(_SUB_NAME, text)
        if not all(isinstance(variables.get(name), str | int) for name in names):
            return {"Fn::Sub": argument}
        return re.sub(_SUB_NAME, lambda match: str(variables[match.group(1)]), text).replace("${!", "${")

    def chosen(self, items: Any, params: Mapping[str, Any]) -> list[Any]:
        """A list whose items may be conditional (`Fn::If`, possibly `AWS::NoValue`): the items the parameters
        keep, themselves left as written."""
        kept = []
        for item in as_list(items):
            while isinstance(item, dict) and list(item) == ["Fn::If"]:
                name, when_true, when_false = item["Fn::If"]
                item = when_true if self.condition_holds(name, params) else when_false
            if item != {"Ref": "AWS::NoValue"}:
                kept.append(item)
        return kept

    def resources_of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: resource for name, resource in self.resources.items() if resource["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)


def references_to(value: Any) -> set[str]:
    """Names used through Ref, Fn::GetAtt and ${...} in Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references_to(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(as_list(item)[0].split(".")[0])
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(item, list):
                    found |= references_to(item[1])
            else:
                found |= references_to(item)
    return found
