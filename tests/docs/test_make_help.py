"""`make help` (and `make` alone): every target, what it does and how long it takes, from the Makefile's own
`## …` comments, so the list cannot drift from the targets."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()


def phony_targets() -> list[str]:
    declared = re.search(r"^\.PHONY:((?:.*\\\n)*.*)$", MAKEFILE, re.MULTILINE)
    assert declared is not None
    return declared.group(1).replace("\\\n", " ").split()


def help_lines() -> dict[str, str]:
    """{target: its `## ` text}, from the rules that have one."""
    return dict(re.findall(r"^([a-z][a-z0-9-]*):[^=\n]*?## (.+)$", MAKEFILE, re.MULTILINE))


def make(*arguments: str) -> str:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_every_phony_target_has_a_rule_and_a_help_line_saying_how_long_it_takes() -> None:
    described = help_lines()

    assert sorted(described) == sorted(phony_targets())
    for target, text in described.items():
        assert re.search(rf"^{re.escape(target)}:", MAKEFILE, re.MULTILINE), f"{target} has no rule"
        assert re.search(r"\(.*[~<]\d+(\.\d+)? (s|min)\b.*\)$", text), f"{target}: say how long it takes: (~N s)"


def test_make_help_and_make_alone_list_each_target_with_its_help_line() -> None:
    listed = make("help")

    assert make() == listed
    lines = listed.splitlines()
    assert lines[0].startswith("make <target>")
    assert lines[1:] == [f"  {target:<13} {text}" for target, text in help_lines().items()]
    assert all(len(line) <= 120 for line in lines)
