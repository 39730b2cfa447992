"""The AWS APIs the library's code names, found in its source: each client it makes (`client("sqs")`, or a
Powertools provider), and each of that service's operations called on one (`.send_message_batch`), as
"service.operation". For test_permissions_deployed.py, which must have a case for each one the functions call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import botocore.session

LIBRARY = Path(__file__).resolve().parents[2] / "layers" / "forwarder" / "mixpanel_forwarder"
# Powertools' providers call AWS for the library: the provider's name is what its source shows.
PROVIDERS = {"SecretsProvider": "secretsmanager.get_secret_value"}


def aws_calls_in_library(operator_code: Mapping[str, str]) -> set[str]:
    """Every "service.operation" named in the library, but in `operator_code`: {file: "every call", or the one
    call it makes that the functions do not}."""
    sources = {path.relative_to(LIBRARY).as_posix(): path.read_text() for path in LIBRARY.rglob("*.py")}
    services = {service for text in sources.values() for service in re.findall(r"client\(\"([a-z0-9-]+)\"", text)}
    session = botocore.session.get_session()
    operations = {
        service: [botocore.xform_name(name) for name in session.get_service_model(service).operation_names]
        for service in services
    }
    found = set()
    for file, text in sources.items():
        excluded = operator_code.get(file)
        if excluded == "every call":
            continue
        named = {
            f"{service}.{op}" for service, ops in operations.items() for op in ops if re.search(rf"\.{op}\b", text)
        }
        named |= {call for provider, call in PROVIDERS.items() if provider in text}
        found |= named - {excluded}
    return found
