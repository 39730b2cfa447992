"""The Lambda entry: one Forwarder per container, built from the environment on first use."""

from __future__ import annotations

from typing import Any

from .forwarder import Forwarder, Source
from .log import logger
from .settings import Settings

_forwarder: Forwarder | None = None


def forwarder() -> Forwarder:
    global _forwarder
    if _forwarder is None:
        _forwarder = Forwarder(Settings.from_env())
    return _forwarder


def reset() -> None:
    """Forget the container's forwarder, so the next invocation reads the environment again."""
    global _forwarder
    _forwarder = None


def handle(source: Source, event: Any, context: Any) -> dict[str, Any]:
    result = forwarder().forward(source, event, context)
    logger.info("invocation summary", extra=result.summary())
    return result.response
