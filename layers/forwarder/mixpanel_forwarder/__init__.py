"""Mixpanel forwarder for AWS Lambda: SQS and Kinesis records into Mixpanel's /import API."""

from __future__ import annotations

from .errors import (
    ConfigError,
    CredentialsError,
    DecodeError,
    ForwarderError,
    InvocationError,
    ParkingError,
    RequestTimeout,
    TransportError,
)
from .forwarder import Forwarder, Result
from .settings import Settings

__all__ = [
    "ConfigError",
    "CredentialsError",
    "DecodeError",
    "Forwarder",
    "ForwarderError",
    "InvocationError",
    "ParkingError",
    "RequestTimeout",
    "Result",
    "Settings",
    "TransportError",
]
