"""The one error the local Lambda runtime raises for what a person must fix."""

from __future__ import annotations


class LocalRunError(Exception):
    """A missing part, a bad file or a busy port: its message is one line that says what to do."""
