"""`make release`: tag the commit checked out as `v<version>`, the version pyproject.toml gives, so that a deployment
can go back to it (`git checkout v0.1.0 && sam build && sam deploy`). Only a clean tree is tagged, and never a
version tagged before: raise `version` in pyproject.toml for the next one. The tag stays local; push it yourself."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ReleaseError(Exception):
    """Why nothing was tagged, and what to do."""


def git(root: Path, *arguments: str) -> str:
    done = subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", *arguments],  # noqa: S607 - git from PATH, as `make` finds it
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(arguments)}: {done.stderr.strip()}")
    return done.stdout


def release(root: Path = ROOT) -> str:
    """Tags HEAD `v<version>` and returns the tag."""
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    tag = f"v{version}"
    if git(root, "status", "--porcelain", "--untracked-files=no").strip():
        raise ReleaseError("the tree has changes: commit them first (a tag names a commit, not your working files)")
    if git(root, "tag", "--list", tag).strip():
        raise ReleaseError(f"{tag} exists already: raise version in pyproject.toml for a new release")
    git(root, "tag", "--annotate", tag, "--message", f"mixpanel-lambda-forwarder {version}")
    return tag


def main() -> int:
    try:
        tag = release()
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Tagged {tag} here; push it with: git push origin {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
