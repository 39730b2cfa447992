"""`make e2e-outage`: the full scenarios (E2E_OUTAGE=full) through pytest, a table each, then the one line the run ends
with; the exit status is pytest's (each scenario asserts the issue's bar)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.e2e.outage.report import RESULTS, last_line


def main() -> int:
    os.environ["E2E_OUTAGE"] = "full"
    here = os.path.dirname(os.path.abspath(__file__))
    status = pytest.main([os.path.join(here, "test_ride_through.py"), "-s", "-q", "-p", "no:cacheprovider"])
    print(last_line(RESULTS["outage"], next(iter(RESULTS["backfill"]), None)), flush=True)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
