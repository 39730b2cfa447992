"""The docs check: links that resolve, and samples that name only what exists. `make test` runs it
(tests/docs/test_docs_check.py); `.venv/bin/python -m localdev.docs_check` prints what it finds, one line each.

Links, in every Markdown file of the repository (README.md, docs/, ARCHITECTURE.md, bench/, events/), never in code:
- a relative link `[text](path)`, `![alt](path)` or `[label]: path` names a file or folder that a clone has (it
  exists, and git does not ignore it). Links with a scheme (`https:`, `mailto:`) are not followed.
- `#anchor`, alone or after a path to a .md file, is an anchor of that file as GitHub makes them: a heading's text
  lowercased, every character but letters, digits, `_`, `-` and spaces removed, each space a hyphen, a repeated one
  suffixed `-1`, `-2`, …; or an `<a name=…>` / `id=…` of the file.
- a reference link `[text][label]` has its `[label]: …` definition.
- a Markdown file named in the text (`RUNBOOK.md`, `docs/RUNBOOK.md`) exists, beside the file or from the top.

Samples, in README.md and docs/*.md: fenced blocks marked `sh`, `bash`, `shell` or `console`; inline code spans that
start with `make `; one-word code spans; and blocks marked `json` (for settings only). Commands are read as a shell
reads them: lines joined at a trailing backslash, `#` comments dropped, split at `|`, `&&`, `||`, `;` and `&`, a
here-document's lines skipped (they are input), and in a `console` block only the lines after a `$ ` prompt.
- `make T …`: each target T is a rule of the Makefile; each `NAME=value` a variable the Makefile uses, or a setting.
- a path into the repository (a word or one-word code span containing `/` whose first part is a top-level file or
  folder of the repository, also after `file://`, `fileb://` or `NAME=`) exists, unless git ignores it (made by an
  earlier command: `.venv/`, `.aws-sam/`); `python -m M` names a module of the repository when M's package is one.
- `--parameter-overrides Name=value …` (one word each, or all in one), `ParameterKey=Name` and
  `PARAMETERS='Name=value …'`: each Name is a parameter template.yaml declares.
- an environment variable set (`NAME=value` before a command, `export NAME=value`, `Variables={NAME=value,…}`, a key
  in capitals in a `json` block as an `--env-vars` file has them) that is no forwarder setting
  (mixpanel_forwarder/setting_names.py) does not look like one: it is not nearly a setting's name (the forwarder's
  own near-miss test) nor under a prefix only settings have (SETTING_PREFIXES). Other variables are the reader's.
Tables, in every Markdown file: a column headed `parameter` or `template parameter` lists template parameters, one
headed `variable` or `environment variable` variables the function reads (a forwarder setting, or Lambda's `AWS_…`
or Powertools' own); each name in backticks there exists.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from localdev.cfn import Template
from localdev.markdown import Document
from localdev.shell_sample import commands
from mixpanel_forwarder.setting_names import KNOWN_SETTINGS, misspelt_settings

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_FOLDERS = {".git", ".venv", ".aws-sam", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
# Names no one but the forwarder would use: a variable under one that is no setting is one misspelt.
SETTING_PREFIXES = ("MIXPANEL_", "DEAD_LETTER_", "TRANSFORM", "PAYLOAD_", "SEGMENT_", "AMPLITUDE_", "SQS_RETRY_")
MODULE_FOLDERS = (".", "layers/forwarder")  # where `python -m` finds the repository's modules (the venv's .pth)
PARAMETER_HEADERS = {"parameter", "template parameter"}
SETTING_HEADERS = {"variable", "environment variable"}
_NAME_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the repository
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class Repository:
    """What a doc may refer to: files, Makefile targets and variables, template parameters, settings."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root = root.resolve()
        makefile = (root / "Makefile").read_text()
        self.targets = set(re.findall(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", makefile, re.MULTILINE))
        self.make_variables = set(re.findall(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]", makefile))
        self.make_variables |= set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*[?:]?=", makefile, re.MULTILINE))
        self.parameters = set(Template.read(root / "template.yaml").parameters)
        self.top_level = {path.name for path in root.iterdir()}

    def exists(self, relative: str) -> bool:
        """Whether a clone has it: it exists here and git does not ignore it."""
        path = (self.root / relative).resolve()
        return path.is_relative_to(self.root) and path.exists() and not self.ignored(relative)

    def ignored(self, relative: str) -> bool:
        try:
            found = subprocess.run(  # noqa: S603 - git, asked about a path of ours
                ["git", "check-ignore", "-q", "--", relative],  # noqa: S607 - git from PATH, as `make` itself
                cwd=self.root,
                capture_output=True,
                check=False,
            )
        except OSError:  # no git: nothing is taken for ignored
            return False
        return found.returncode == 0

    def markdown_files(self) -> list[Path]:
        found = []
        for path in sorted(self.root.rglob("*.md")):
            if not SKIPPED_FOLDERS & set(path.relative_to(self.root).parts) and not self.ignored(str(path)):
                found.append(path)
        return found


def check(repository: Repository | None = None) -> list[Finding]:
    """Every finding in the repository's Markdown files, in file and line order."""
    repository = repository or Repository()
    documents = {path: Document.parse(path.read_text()) for path in repository.markdown_files()}
    findings: list[Finding] = []
    for path, document in documents.items():
        name = str(path.relative_to(repository.root))
        findings += [Finding(name, line, message) for line, message in _links(path, document, documents, repository)]
        findings += [Finding(name, line, message) for line, message in _tables(document, repository)]
        if name == "README.md" or name.startswith("docs/"):
            findings += [Finding(name, line, message) for line, message in _commands(document, repository)]
    return sorted(findings, key=lambda finding: (finding.path, finding.line))


def _links(
    path: Path, document: Document, documents: dict[Path, Document], repository: Repository
) -> Iterator[tuple[int, str]]:
    for line, label in document.undefined_references:
        yield line, f"reference link [{label}] has no definition"
    for line, name in document.mentions:
        if not any(_in_repository(place / name, repository) for place in (path.parent, repository.root)):
            yield line, f"{name} is named, and is not in the repository"
    for link in document.links:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", link.target) or not link.target:
            continue  # https:, mailto:, …
        target, _, anchor = link.target.partition("#")
        target = unquote(target)
        resolved = (path.parent / target).resolve() if target else path
        relative = resolved.relative_to(repository.root) if resolved.is_relative_to(repository.root) else None
        if relative is None or not repository.exists(str(relative)):
            yield link.line, f"link to {link.target}: {target} is not in the repository"
            continue
        if anchor:
            linked = documents.get(resolved) if resolved.suffix == ".md" else None
            if linked is None:
                yield link.line, f"link to {link.target}: #{anchor} in a file that is not Markdown"
            elif unquote(anchor).lower() not in linked.anchors:
                yield link.line, f"link to {link.target}: no heading of {relative} makes #{anchor}"


def _in_repository(path: Path, repository: Repository) -> bool:
    resolved = path.resolve()
    return resolved.is_relative_to(repository.root) and repository.exists(str(resolved.relative_to(repository.root)))


def _tables(document: Document, repository: Repository) -> Iterator[tuple[int, str]]:
    for table in document.tables:
        for column, heading in enumerate(table.header):
            kind = re.sub(r"[`*]", "", heading).strip().lower()
            if kind not in PARAMETER_HEADERS | SETTING_HEADERS:
                continue
            for line, row in table.rows:
                for name in re.findall(r"`([^`]+)`", row[column] if column < len(row) else ""):
                    if kind in PARAMETER_HEADERS and name not in repository.parameters:
                        yield line, f"{name} is no parameter of template.yaml"
                    if kind in SETTING_HEADERS and not _variable(name):
                        yield line, f"{name} is no setting of the forwarder (setting_names.py)"


def _commands(document: Document, repository: Repository) -> Iterator[tuple[int, str]]:
    for block in document.blocks:
        if block.language in SHELL_LANGUAGES:
            for line, command in commands(block.text, block.line, console=block.language == "console"):
                yield from ((line, message) for message in _command(command, repository))
        elif block.language == "json":  # an --env-vars file: {"Parameters": {NAME: value}, "Function": {…}}
            yield from ((block.line, message) for name in _upper_keys(block.text) for message in _setting(name))
    for line, span in document.spans:
        if span.startswith("make "):
            for _, command in commands(span, line):
                yield from ((line, message) for message in _command(command, repository))
        elif " " not in span:  # a path named in the text: `docs/RUNBOOK.md`
            yield from ((line, message) for message in _path(span, repository))


def _variable(name: str) -> bool:
    """A variable the function reads: a forwarder setting, Lambda's own (`AWS_REGION`), or one of Powertools'."""
    from aws_lambda_powertools.shared import constants

    powertools = {value for key, value in vars(constants).items() if key.endswith("_ENV")}
    return name in KNOWN_SETTINGS or name in powertools or name.startswith("AWS_")


def _command(words: list[str], repository: Repository) -> Iterator[str]:
    while words and (assigned := _NAME_ASSIGNMENT.match(words[0])):  # NAME=value before the command
        yield from _setting(assigned.group(1))
        words = words[1:]
    if words[:1] == ["export"]:
        for word in words[1:]:
            if assigned := _NAME_ASSIGNMENT.match(word):
                yield from _setting(assigned.group(1))
        return
    if words[:1] == ["make"]:
        yield from _make(words[1:], repository)
    for word in words:  # aws lambda update-function-configuration --environment "Variables={NAME=value,…}"
        if word.startswith("Variables={"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", word.removeprefix("Variables=")):
                yield from _setting(name)
    for position, word in enumerate(words):
        value = assigned.group(2) if (assigned := _NAME_ASSIGNMENT.match(word)) else word  # EVENT=events/…
        yield from _path(re.sub(r"^fileb?://", "", value), repository)
        if word == "-m" and position + 1 < len(words):
            yield from _module(words[position + 1], repository)
    yield from _parameters(words, repository)


def _upper_keys(text: str) -> Iterator[str]:
    """The keys in capitals (environment variables) of a JSON sample, at any depth; none if it is not JSON."""
    try:
        document = json.loads(text)
    except ValueError:
        return
    pending = [document]
    while pending:
        item = pending.pop()
        values = item.values() if isinstance(item, dict) else item if isinstance(item, list) else []
        yield from (key for key in (item if isinstance(item, dict) else {}) if re.fullmatch(r"[A-Z][A-Z0-9_]+", key))
        pending += [value for value in values if isinstance(value, dict | list)]


def _setting(name: str) -> Iterator[str]:
    if name not in KNOWN_SETTINGS and (misspelt_settings([name]) or name.startswith(SETTING_PREFIXES)):
        yield f"{name} is no setting of the forwarder (setting_names.py)"


def _make(arguments: list[str], repository: Repository) -> Iterator[str]:
    for word in arguments:
        if word.startswith("-") or "<" in word or "$" in word:
            continue
        assigned = _NAME_ASSIGNMENT.match(word)
        if assigned:
            if assigned.group(1) not in repository.make_variables | KNOWN_SETTINGS:
                yield f"make variable {assigned.group(1)} is not used by the Makefile"
        elif word not in repository.targets:
            yield f"make {word}: no such target in the Makefile"


def _path(word: str, repository: Repository) -> Iterator[str]:
    word = word.rstrip(",;:)")
    if "/" not in word or word.startswith(("/", "-")) or re.search(r"[$<>*?{}~@=]|://", word):
        return
    if word.split("/")[0] not in repository.top_level and word.split("/")[0] not in SKIPPED_FOLDERS:
        return
    path = (repository.root / word).resolve()
    if not path.exists() and not repository.ignored(word):
        yield f"{word} does not exist in the repository"


def _module(name: str, repository: Repository) -> Iterator[str]:
    parts = name.split(".")
    for root in (repository.root / folder for folder in MODULE_FOLDERS):
        if (root / parts[0]).is_dir():
            base = root.joinpath(*parts)
            if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
                yield f"python -m {name}: no such module in the repository"
            return


def _parameters(words: list[str], repository: Repository) -> Iterator[str]:
    names: list[str] = []
    overriding = False
    for word in words:
        if word == "--parameter-overrides":
            overriding = True
            continue
        if word.startswith("-"):
            overriding = False
        names += re.findall(r"ParameterKey=([A-Za-z0-9]+)", word)
        if word.startswith("PARAMETERS="):
            names += [pair.split("=")[0] for pair in word.removeprefix("PARAMETERS=").split() if "=" in pair]
        elif overriding and not word.startswith("ParameterKey="):  # Name=value …, one word each or all in one
            names += [assigned.group(1) for piece in word.split() if (assigned := _NAME_ASSIGNMENT.match(piece))]
    for name in names:
        if name not in repository.parameters:
            yield f"{name} is no parameter of template.yaml"


def main() -> int:
    findings = check()
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
