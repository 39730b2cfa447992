"""The forwarder's one exception hierarchy; third-party errors are translated at the boundary."""

from __future__ import annotations


class ForwarderError(Exception):
    """Base of every error the forwarder raises on purpose."""


class ConfigError(ForwarderError):
    """A setting is missing or invalid; the message names the environment variable to fix."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class CredentialsError(ForwarderError):
    """The credentials could not be read (Secrets Manager unreachable or refusing); try again later."""


class DecodeError(ForwarderError):
    """A record's payload cannot be turned into events."""


class TransportError(ForwarderError):
    """A request did not get an HTTP answer (timeout, reset, refused); always worth retrying."""


class RequestTimeout(TransportError):
    """No whole answer came within the request's time (a connect, a read, or the request as a whole)."""


class ParkingError(ForwarderError):
    """The dead-letter queue did not take a message."""


class InvocationError(ForwarderError):
    """The invocation is not the shape its source sends; nothing in it can be reported record by record."""
