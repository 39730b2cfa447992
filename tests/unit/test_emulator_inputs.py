"""What a person gives `make invoke` / `make start-lambda` besides the function and event: SAM's --env-vars file
and --parameter-overrides, read as SAM reads them, each mistake one line that says what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localdev.emulator.environment import check_sections, overrides_for, read_env_vars
from localdev.emulator.errors import LocalRunError
from localdev.emulator.functions import FunctionSpec
from localdev.emulator.session import parse_parameters

SPEC = FunctionSpec("SqsForwarderFunction", Path("code"), (), "app.lambda_handler", "python3.13", 256, 60, {})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.json"
    path.write_text(text)
    return path


def test_env_vars_values_are_text_as_sam_passes_them(tmp_path: Path) -> None:
    document = {"Parameters": {"A": 1, "B": True, "C": None}, "SqsForwarderFunction": {"A": "2", "D": [1]}}

    values = read_env_vars(write(tmp_path, json.dumps(document)))

    assert overrides_for("SqsForwarderFunction", values) == {"A": "2", "B": "true", "C": "", "D": ""}
    assert overrides_for("KinesisForwarderFunction", values) == {"A": "1", "B": "true", "C": ""}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "is not JSON"),
        ('["SqsForwarderFunction"]', "is not in SAM's --env-vars format"),
        ('{"SqsForwarderFunction": "A=1"}', "is not in SAM's --env-vars format"),
    ],
)
def test_env_vars_file_mistakes_are_one_line(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(LocalRunError, match=says) as refused:
        read_env_vars(write(tmp_path, text))

    assert "\n" not in str(refused.value)


def test_env_vars_file_that_is_missing(tmp_path: Path) -> None:
    with pytest.raises(LocalRunError, match="no such file"):
        read_env_vars(tmp_path / "absent.json")


def test_env_vars_section_naming_no_function_is_refused() -> None:
    with pytest.raises(LocalRunError, match=r"names SqsForwarder, which template\.yaml does not define"):
        check_sections(Path("env.json"), {"SqsForwarder": {}}, {SPEC.name: SPEC})

    check_sections(Path("env.json"), {"Parameters": {}, SPEC.name: {}}, {SPEC.name: SPEC})


def test_parameter_overrides_in_sams_short_form() -> None:
    assert parse_parameters("LogLevel=DEBUG  MixpanelRegion='EU'") == {"LogLevel": "DEBUG", "MixpanelRegion": "EU"}
    assert parse_parameters("") == {}
    with pytest.raises(LocalRunError, match="is not Name=value"):
        parse_parameters("LogLevel")
