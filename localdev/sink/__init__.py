"""An embedded Mixpanel-compatible sink for /import, /engage and /groups: a real HTTP server on loopback that answers
like Mixpanel, keeps what it imported and the profiles it was sent, and can be scripted to fail, to go down for a
while (502/503, resets, hangs; steady or flapping) or to rate-limit a project's ingestion over a rolling window, so
tests, the demo and the benchmarks need no account. Its clock (real, fake or time-scaled) runs all three.

Run it alone with `python -m localdev.sink [--port 8765] [--max-bytes N]`.

Modules, one job each: `core` (MixpanelSink: lifecycle and reads), `scripting` (its faults, outages and rate limit
as a test sets them), `api` (routing and each request's flow), `rules` (what every endpoint shares: auth, bodies,
placeholder ids), `imports` (/import's checks, dedup key and answers), `profiles` (what one /engage or /groups update
must hold), `profile_wire` (how those endpoints read a request and answer), `profile_state` (the profiles and what
each operation does to them), `faults`, `outages` (the unavailability schedule), `rate_limit` (the rolling window),
`ledger` (what was received), `flight` (requests in flight, and a pause that holds them), `answers`, `codec` (JSON),
`handler` and `server` (HTTP), `__main__` (the command line).
"""

from __future__ import annotations

from .core import MixpanelSink
from .ledger import RequestLog
from .outages import Outage
from .profile_state import Profile
from .profiles import Update

__all__ = ["MixpanelSink", "Outage", "Profile", "RequestLog", "Update"]
