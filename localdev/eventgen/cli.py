"""The command line that regenerates the sample files: `python -m localdev.eventgen [--out events]`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .samples import samples_readme, write_samples


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: regenerate the sample files and their README."""
    parser = argparse.ArgumentParser(prog="python -m localdev.eventgen", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=Path("events"), help="folder to write into (default: events)")
    args = parser.parse_args(argv)
    out: Path = args.out
    paths = write_samples(out)
    readme = out / "README.md"
    readme.write_text(samples_readme(), encoding="utf-8", newline="\n")
    for path in [*paths, readme]:
        print(path)
    return 0
