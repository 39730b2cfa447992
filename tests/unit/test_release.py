"""`make release` (localdev/release.py): a clean tree's commit tagged from pyproject.toml's version, once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from localdev.release import ReleaseError, git, release


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of one commit, by someone (a CI machine may have no git identity), whatever this machine's git
    configuration says (signing, hooks)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Release Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "release-test@example.com")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mixpanel-lambda-forwarder"\nversion = "0.2.0"\n')
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    git(tmp_path, "add", "pyproject.toml")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_a_clean_tree_is_tagged_with_the_version_once(repository: Path) -> None:
    assert release(repository) == "v0.2.0"
    assert git(repository, "rev-parse", "v0.2.0^{commit}") == git(repository, "rev-parse", "HEAD")
    assert git(repository, "tag", "-n1", "--list", "v0.2.0").split() == ["v0.2.0", "mixpanel-lambda-forwarder", "0.2.0"]
    with pytest.raises(ReleaseError, match=r"v0\.2\.0 exists already: raise version in pyproject\.toml"):
        release(repository)


def test_a_tree_with_changes_is_not_tagged(repository: Path) -> None:
    (repository / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0.3.0"\n')

    with pytest.raises(ReleaseError, match="the tree has changes: commit them first"):
        release(repository)
    assert git(repository, "tag", "--list") == ""
