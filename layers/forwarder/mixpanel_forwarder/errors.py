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


class SourceUnavailable(ForwarderError):
    """What a record names cannot be read now (an S3 object: not found, denied, throttled, no time left): the record
    is reported for retry, not parked."""


class TransportError(ForwarderError):
    """A request did not get an HTTP answer (timeout, reset, refused); always worth retrying."""


class RequestTimeout(TransportError):
    """No whole answer came within the request's time (a connect, a read, or the request as a whole)."""


class ConnectionFailed(TransportError):
    """The connection was refused, reset or closed before an answer came."""


class Invalid(ForwarderError):
    """An event Mixpanel would refuse: `field` and `message` say why, like a strict-mode answer.

    Both end up in logs and summaries: they name the field and the rule, and quote a value only through
    `model.excerpt`, never whole (a payload can be megabytes, and personal data).
    """

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class Inexact(Invalid):
    """A number read as a float may be an integer beyond 64 bits, rounded: read the item again exactly."""


class InvocationError(ForwarderError):
    """The invocation is not the shape its source sends; nothing in it can be reported record by record."""
