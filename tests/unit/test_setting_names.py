"""A setting misspelt among a function's variables (`MIXPANEL_REGOIN`) is found, naming the setting it nearly is;
Lambda's own variables, Powertools' and unrelated ones are not; and a deployed function's names cost no difflib."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from localdev.emulator.environment import function_environment
from localdev.emulator.functions import FunctionSpec
from mixpanel_forwarder.setting_names import KNOWN_SETTINGS, misspelt_settings

SPEC = FunctionSpec("SqsForwarderFunction", Path("code"), (), "app.lambda_handler", "python3.13", 256, 60, {})


@pytest.mark.parametrize(
    ("name", "setting"),
    [
        ("MIXPANEL_REGOIN", "MIXPANEL_REGION"),
        ("MIXPANLE_REGION", "MIXPANEL_REGION"),
        ("mixpanel_region", "MIXPANEL_REGION"),
        ("TRANSFORM", "TRANSFORMS"),
        ("BATCH_MAX_EVENT", "BATCH_MAX_EVENTS"),
        ("DEAD_LETTER_QUEUE", "DEAD_LETTER_QUEUE_URL"),
        ("POWERTOOLS_LOGLEVEL", "POWERTOOLS_LOG_LEVEL"),
    ],
)
def test_a_misspelt_setting_names_the_setting_it_nearly_is(name: str, setting: str) -> None:
    assert misspelt_settings([name, "MIXPANEL_API_URL"]) == [(name, setting)]


def test_settings_lambdas_powertools_and_unrelated_variables_are_no_typos() -> None:
    names = [
        *KNOWN_SETTINGS,
        *function_environment(SPEC),  # Lambda's own, as the emulator sets them
        "POWERTOOLS_TRACE_DISABLED",  # Powertools', 0.88 from POWERTOOLS_METRICS_DISABLED
        "AWS_ENDPOINT_URL",
        "MIXPANEL_TOKEN",
        "DEBUG",
    ]

    assert misspelt_settings(names) == []


def test_a_deployed_functions_variables_are_checked_without_difflib(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN what Lambda sets (reserved and unreserved) and the template's settings: nothing else to compare
    lambdas = ["_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "LAMBDA_TASK_ROOT", "TZ", "LANG", "PATH", "PYTHONPATH"]
    lambdas += ["PWD", "SHLVL"]  # bash's: the Python runtime's bootstrap is a bash script
    monkeypatch.setitem(sys.modules, "difflib", None)  # importing it would now fail

    assert misspelt_settings([*lambdas, "MIXPANEL_REGION", "TRANSFORMS", "POWERTOOLS_SERVICE_NAME"]) == []


def test_variables_of_the_users_own_are_checked_without_importing_powertools(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its package's __init__ is the ~15 ms that log.py and emf.py keep out of cold start: a variable such as TEAM (no
    # setting's near miss) must not bring it back. Importing it would now fail.
    monkeypatch.setitem(sys.modules, "aws_lambda_powertools", None)
    monkeypatch.setitem(sys.modules, "aws_lambda_powertools.shared", None)

    assert misspelt_settings(["TEAM", "DEBUG", "LOG_LEVEL", "POWERTOOLS_DEV", "MIXPANEL_REGOIN"]) == [
        ("MIXPANEL_REGOIN", "MIXPANEL_REGION")
    ]
