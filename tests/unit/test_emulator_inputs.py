"""What a person gives `make invoke` / `make start-lambda` besides the function and event: SAM's --env-vars file
and --parameter-overrides, read as SAM reads them, each mistake one line that says what to fix."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

import pytest

from localdev.emulator.environment import check_sections, misspelt_lines, overrides_for, read_env_vars
from localdev.emulator.errors import LocalRunError
from localdev.emulator.functions import FunctionSpec
from localdev.emulator.server import InvokeFront
from localdev.emulator.session import parse_parameters, read_event

SPEC = FunctionSpec("SqsForwarderFunction", Path("code"), (), "app.lambda_handler", "python3.13", 256, 60, {})
DEEP = b"[" * 100_000 + b"]" * 100_000  # valid JSON, nested deeper than Python's parser goes


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


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"MIXPANEL_REGION=EU": "x"}, "SqsForwarderFunction sets a variable named 'MIXPANEL_REGION=EU'"),
        ({"": "x"}, "SqsForwarderFunction sets a variable named ''"),
        ({"A\u0000B": "x"}, "SqsForwarderFunction sets a variable named 'A\\x00B'"),
        ({"TRANSFORMS": "{}\u0000"}, "SqsForwarderFunction sets TRANSFORMS to a value holding a NUL character"),
        # JSON's escape for an unpaired surrogate: the launch would fail encoding it (a UnicodeEncodeError)
        ({"A\ud800": "x"}, "SqsForwarderFunction sets a variable named 'A\\ud800'"),
        ({"TRANSFORMS": "\ud800"}, "SqsForwarderFunction sets TRANSFORMS to a value holding a NUL character or an"),
    ],
)
def test_env_vars_no_environment_can_hold_are_refused_naming_the_function_and_variable(
    tmp_path: Path, variables: dict[str, str], says: str
) -> None:
    # GIVEN what the process launch would refuse with a ValueError (a name with "=" or empty, a NUL anywhere)
    path = write(tmp_path, json.dumps({"SqsForwarderFunction": variables}))

    with pytest.raises(LocalRunError) as refused:
        read_env_vars(path)

    assert says in str(refused.value)
    assert str(refused.value).endswith(("rename it", "remove it"))
    assert "\n" not in str(refused.value)


def test_env_vars_secret_holding_a_nul_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"Parameters": {"MIXPANEL_SERVICE_ACCOUNT_SECRET": "s3cr3t\u0000"}}))

    with pytest.raises(
        LocalRunError, match="Parameters sets MIXPANEL_SERVICE_ACCOUNT_SECRET to a value holding a NUL"
    ) as refused:
        read_env_vars(path)

    assert "s3cr3t" not in str(refused.value)


def test_env_vars_file_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_bytes(DEEP)

    with pytest.raises(LocalRunError, match="is nested too deeply") as refused:
        read_env_vars(path)

    assert "\n" not in str(refused.value)


def test_event_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(DEEP)

    with pytest.raises(LocalRunError, match=r"event\.json is nested too deeply") as refused:
        read_event(path)

    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b'{"a": NaN}', "is not JSON (NaN is no JSON value)"),  # Python's parser takes it, Lambda's does not
        (b"[Infinity]", "is not JSON (Infinity is no JSON value)"),
        (b'{"body": "' + b"x" * (6 * 1024 * 1024) + b'"}', "bytes, over Lambda's 6291456 for a synchronous"),
    ],
)
def test_an_event_lambda_would_not_take_is_one_line(tmp_path: Path, payload: bytes, says: str) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(payload)

    with pytest.raises(LocalRunError) as refused:
        read_event(path)

    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("headers", "answer"),
    [
        (b"Content-Length: abc\r\n", (400, "InvalidRequestContentException")),
        (b"Content-Length: -5\r\n", (400, "InvalidRequestContentException")),
        (b"Content-Length: 99999999999\r\n", (413, "RequestTooLargeException")),  # answered before any of it is read
        (b"Transfer-Encoding: chunked\r\n", (400, "InvalidRequestContentException")),  # not read as an empty {}
    ],
)
def test_invoke_api_answers_a_request_whose_body_it_will_not_read_and_closes_it(
    headers: bytes, answer: tuple[int, str]
) -> None:
    front = InvokeFront({SPEC.name: object()}, port=0).start()  # type: ignore[dict-item]  # never reached
    try:
        with socket.create_connection((front.host, front.port), timeout=10) as connection:
            path = f"/2015-03-31/functions/{SPEC.name}/invocations".encode()
            connection.sendall(
                b"POST " + path + b" HTTP/1.1\r\nHost: local\r\n" + headers + b"\r\n5\r\n[1,2]\r\n0\r\n\r\n"
            )
            reply = http.client.HTTPResponse(connection)
            reply.begin()
            body = json.loads(reply.read())
            status, error = reply.status, reply.getheader("x-amzn-ErrorType")
            closed = connection.recv(1) == b""
    finally:
        front.stop()

    assert (status, error) == answer
    assert body["Message"]
    assert closed


def test_invoke_api_answers_a_payload_nested_too_deeply_as_lambda_answers_one_it_cannot_parse() -> None:
    front = InvokeFront({SPEC.name: object()}, port=0)  # type: ignore[dict-item]  # refused before it is reached
    try:
        reply = front.reply(f"/2015-03-31/functions/{SPEC.name}/invocations", {}, DEEP)
    finally:
        front.stop()

    assert (reply.status, reply.headers["x-amzn-ErrorType"]) == (400, "InvalidRequestContentException")
    assert "nested too deeply" in json.loads(reply.body)["Message"]


def test_a_variable_that_is_nearly_a_setting_is_warned_about_in_one_line() -> None:
    values = {"Parameters": {"MIXPANEL_REGOIN": "EU"}, "SqsForwarderFunction": {"AWS_ENDPOINT_URL": "http://x"}}

    assert misspelt_lines(Path("env.json"), values) == [
        "warning: env.json: Parameters sets MIXPANEL_REGOIN, which is no setting of the forwarder and is unused: "
        "did you mean MIXPANEL_REGION?"
    ]
