"""Mixpanel forwarder for AWS Lambda: SQS and Kinesis records into Mixpanel's /import API."""

from __future__ import annotations

from .errors import (
    ConfigError,
    CredentialsError,
    DecodeError,
    ForwarderError,
    Invalid,
    InvocationError,
    RequestTimeout,
    TransportError,
)
from .forwarder import Forwarder
from .result import Result
from .settings import Settings

__all__ = [
    "ConfigError",
    "CredentialsError",
    "DecodeError",
    "Forwarder",
    "ForwarderError",
    "Invalid",
    "InvocationError",
    "RequestTimeout",
    "Result",
    "Settings",
    "TransportError",
]
