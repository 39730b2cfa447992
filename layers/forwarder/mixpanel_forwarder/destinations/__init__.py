"""Where batches go: each Mixpanel endpoint behind one small interface (base.Destination)."""

from __future__ import annotations

from .base import Destination, Verdict
from .imports import ImportDestination
from .profiles import ProfileDestination

__all__ = ["Destination", "ImportDestination", "ProfileDestination", "Verdict"]
