"""`make invoke` and `make start-lambda` as a person runs them (their Python entry points), and each bad input
stopping with one line that says what to do: no Python 3.13, no build, an unknown function, an event or
--env-vars file that is not JSON, a port in use."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.emulator import invoke, session, start_lambda, toolchain
from localdev.emulator.errors import LocalRunError
from localdev.emulator.session import Session
from tests.functional.conftest import EVENTS
from tests.runtime.conftest import SQS_FUNCTION, lambda_client

ROOT = Path(__file__).resolve().parents[2]
STANDARD = str(EVENTS / "sqs-standard.json")


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    return err


def test_invoke_prints_the_log_then_the_response_last(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke.main([SQS_FUNCTION, STANDARD]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("START RequestId: ")
    report = next(line for line in lines if line.startswith("REPORT RequestId: "))
    assert "\tInit Duration: " in report
    assert "\tMemory Size: 256 MB\t" in report
    assert "5 event(s) imported" in lines[-2]
    assert json.loads(lines[-1]) == {"batchItemFailures": []}


def test_invoke_takes_env_vars_in_sams_format(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_vars = tmp_path / "env.json"
    # A secret the sink does not know: the forwarder is refused (401), sends once and reports every record.
    env_vars.write_text(json.dumps({SQS_FUNCTION: {"MIXPANEL_SERVICE_ACCOUNT_SECRET": "wrong"}}))

    assert invoke.main([SQS_FUNCTION, STANDARD, "--env-vars", str(env_vars)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert '{"401": 1}' in lines[-2]
    assert len(json.loads(lines[-1])["batchItemFailures"]) == 5


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["NoSuchFunction", STANDARD], "template.yaml has no function 'NoSuchFunction': use one of "),
        ([SQS_FUNCTION, "events/no-such-file.json"], "give a JSON file"),
        ([SQS_FUNCTION, "README.md"], "is not JSON"),
        ([SQS_FUNCTION, STANDARD, "--env-vars", "README.md"], "is not JSON"),
        ([SQS_FUNCTION, STANDARD, "--parameter-overrides", "NoSuchParameter=1"], "has no parameter NoSuchParameter"),
    ],
)
def test_invoke_bad_input_is_one_line(
    session: Session, arguments: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke.main(arguments) == 2

    assert says in one_error_line(capsys)


def test_invoke_event_nested_too_deeply_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    event = tmp_path / "deep.json"
    event.write_bytes(b"[" * 100_000 + b"]" * 100_000)  # JSON, but deeper than Python's parser goes

    assert invoke.main([SQS_FUNCTION, str(event)]) == 2

    assert "deep.json is nested too deeply" in one_error_line(capsys)


def test_invoke_env_vars_no_environment_can_hold_is_one_line_before_anything_runs(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({SQS_FUNCTION: {"MIXPANEL_REGION=EU": "1"}}))

    assert invoke.main([SQS_FUNCTION, STANDARD, "--env-vars", str(env_vars)]) == 2

    assert f"{SQS_FUNCTION} sets a variable named 'MIXPANEL_REGION=EU'" in one_error_line(capsys)


def test_invoke_warns_of_a_misspelt_setting_in_one_line_and_still_runs(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({"Parameters": {"MIXPANEL_REGOIN": "EU"}}))

    assert invoke.main([SQS_FUNCTION, STANDARD, "--env-vars", str(env_vars)]) == 0

    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"warning: {env_vars}: Parameters sets MIXPANEL_REGOIN, which is no setting of the forwarder and is unused: "
        "did you mean MIXPANEL_REGION?"
    ]
    assert json.loads(out.splitlines()[-1]) == {"batchItemFailures": []}
    [logged] = [json.loads(line) for line in out.splitlines() if "did_you_mean" in line]  # the function's own
    assert (logged["level"], logged["variable"], logged["did_you_mean"]) == (
        "WARNING",
        "MIXPANEL_REGOIN",
        "MIXPANEL_REGION",
    )


def test_missing_build_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(session, "BUILD", tmp_path / ".aws-sam" / "build")

    assert invoke.main([SQS_FUNCTION, STANDARD]) == 2

    error = one_error_line(capsys)
    assert "no `sam build` output in " in error
    assert "run `make validate`" in error


def test_no_python_3_13_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))

    assert toolchain.main([str(tmp_path / "venv")]) == 1

    assert "`pyenv install 3.13`" in one_error_line(capsys)
    assert not (tmp_path / "venv").exists()


def test_runtime_not_provisioned_says_which_make_target(tmp_path: Path) -> None:
    with pytest.raises(LocalRunError, match=r"run `make runtime`$"):
        toolchain.runtime_python(tmp_path / "lambda-runtime")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_start_lambda_on_a_port_in_use_is_one_line(
    session: Session, busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert start_lambda.main(["--port", str(busy_port)]) == 2

    assert f"port {busy_port} on 127.0.0.1 is in use" in one_error_line(capsys)


def test_start_lambda_serves_boto3_until_terminated(session: Session) -> None:
    command = [sys.executable, "-m", "localdev.emulator.start_lambda", "--port", "0"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert banner.startswith("Lambda Invoke API at http://127.0.0.1:"), banner + server.stderr.read()
        url = banner.split()[4]

        answer = lambda_client(url).invoke(FunctionName=SQS_FUNCTION, Payload=Path(STANDARD).read_bytes())
        assert json.loads(answer["Payload"].read()) == {"batchItemFailures": []}
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Traceback" not in err
