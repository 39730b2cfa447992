"""`python -m localdev.eventgen [--out events]`: regenerate the sample files and their README."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
