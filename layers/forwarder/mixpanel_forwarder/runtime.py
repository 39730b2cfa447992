"""The Lambda entry: one Forwarder per container, built from the environment on first use."""

from __future__ import annotations

from typing import Any

from .forwarder import Forwarder, Result, Source
from .log import logger
from .settings import Settings

_forwarder: Forwarder | None = None
_last_result: Result | None = None


def forwarder() -> Forwarder:
    global _forwarder
    if _forwarder is None:
        _forwarder = Forwarder(Settings.from_env())
    return _forwarder


def reset() -> None:
    """Forget the container's forwarder, so the next invocation reads the environment again."""
    global _forwarder, _last_result
    _forwarder = None
    _last_result = None


def handle(source: Source, event: Any, context: Any) -> dict[str, Any]:
    global _last_result
    result = forwarder().forward(source, event, context)
    _last_result = result
    logger.info("invocation summary", extra=result.summary())
    return result.response


def last_result() -> Result | None:
    """The last invocation's full result in this process: for the local runner and tests, not for Lambda."""
    return _last_result
