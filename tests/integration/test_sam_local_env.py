"""localdev/sam-local-env.json, for `sam local invoke --env-vars`: names real functions and real settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

from localdev.cfn import references_to
from mixpanel_forwarder import settings
from tests.integration.template import RESOURCES, environment

ROOT = Path(__file__).resolve().parents[2]


def test_env_file_names_the_template_functions_and_known_settings() -> None:
    env = json.loads((ROOT / "localdev/sam-local-env.json").read_text())
    template = (ROOT / "template.yaml").read_text()
    known = {value for name, value in vars(settings).items() if name.isupper() and isinstance(value, str)}

    for function, variables in env.items():
        assert re.search(rf"^  {function}:\n    Type: AWS::Serverless::Function", template, re.M), function
        assert set(variables) <= known
        assert variables["MIXPANEL_CREDENTIALS_SECRET_ARN"] == ""  # no AWS access needed in the container
        settings.Settings.from_env(variables)  # a complete, valid configuration


def test_env_file_blanks_every_variable_the_template_sets_from_a_resource() -> None:
    # sam local answers a resource's Ref with its logical id ("SourceDeadLetterQueue"), which names no queue, bucket or
    # secret: the function would call AWS with it. Blank, each such setting is off.
    env = json.loads((ROOT / "localdev/sam-local-env.json").read_text())

    for function, variables in env.items():
        from_resources = {
            name for name, value in environment(function).items() if references_to(value) & RESOURCES.keys()
        }
        assert from_resources
        assert {name: variables.get(name) for name in from_resources} == dict.fromkeys(from_resources, ""), function
