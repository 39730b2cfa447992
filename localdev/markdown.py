"""What the docs check (docs_check.py) reads in a Markdown file, as GitHub renders it: fenced code blocks, inline code
spans, links and the anchors its headings make."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:name|id)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
# [text](target) and ![alt](target): the text may hold one level of brackets, the target an <…> form and a "title".
_INLINE_LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)[^)]*\)")
_FULL_REFERENCE = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])+)\]\[([^\[\]]*)\]")
_DEFINITION = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*(<[^>]*>|\S+)")
_MENTION = re.compile(r"(?<![\w./-])(\w[\w./-]*\.md)\b")
_TABLE_DIVIDER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string's language and its lines (1-based number of the first)."""

    language: str
    line: int
    text: str


@dataclass(frozen=True)
class Link:
    line: int
    target: str


@dataclass(frozen=True)
class Table:
    line: int
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line, cells)


@dataclass
class Document:
    """One Markdown file, split as GitHub reads it."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    spans: list[tuple[int, str]] = field(default_factory=list)  # (line, text) of each inline code span
    links: list[Link] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)
    undefined_references: list[tuple[int, str]] = field(default_factory=list)
    mentions: list[tuple[int, str]] = field(default_factory=list)  # (line, name) of each Markdown file the text names
    tables: list[Table] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Document:
        document = cls(text)
        prose: list[tuple[int, str]] = []  # the lines outside fenced blocks
        fence: tuple[str, str, int, list[str]] | None = None  # (marker, language, first line, lines)
        for number, line in enumerate(text.splitlines(), start=1):
            opened = _FENCE.match(line)
            if fence is not None:
                if opened and opened.group(1)[0] == fence[0][0] and len(opened.group(1)) >= len(fence[0]):
                    document.blocks.append(Block(fence[1], fence[2], "\n".join(fence[3])))
                    fence = None
                else:
                    fence[3].append(line)
            elif opened:
                fence = (opened.group(1), opened.group(2).lower(), number + 1, [])
            else:
                prose.append((number, line))
        document._read_prose(prose)
        return document

    def _read_prose(self, prose: list[tuple[int, str]]) -> None:
        slugs: dict[str, int] = {}
        definitions = {match.group(1).lower() for _, line in prose if (match := _DEFINITION.match(line))}
        for number, line in prose:
            self.anchors.update(_HTML_ANCHOR.findall(line))
            heading = _HEADING.match(line)
            if heading:
                self.anchors.add(_unique(slug(heading.group(2)), slugs))
            definition = _DEFINITION.match(line)
            if definition:
                self.links.append(Link(number, definition.group(2).strip("<>")))
                continue
            self.spans += [(number, match.group(2).strip()) for match in _CODE_SPAN.finditer(line)]
            outside_code = _CODE_SPAN.sub("", line)
            self.links += [Link(number, match.group(2).strip("<>")) for match in _INLINE_LINK.finditer(outside_code)]
            outside_links = _INLINE_LINK.sub("", outside_code)
            for match in _FULL_REFERENCE.finditer(outside_links):
                label = (match.group(2) or match.group(1)).lower()
                if label not in definitions:
                    self.undefined_references.append((number, label))
            self.mentions += [(number, name) for name in _MENTION.findall(_FULL_REFERENCE.sub("", outside_links))]
        self._read_tables(prose)

    def _read_tables(self, prose: list[tuple[int, str]]) -> None:
        for position in range(1, len(prose)):
            number, line = prose[position]
            if not _TABLE_DIVIDER.match(line) or "|" not in prose[position - 1][1]:
                continue
            table = Table(prose[position - 1][0], cells(prose[position - 1][1]), [])
            for row_number, row in prose[position + 1 :]:
                if "|" not in row or row_number != (table.rows[-1][0] if table.rows else number) + 1:
                    break
                table.rows.append((row_number, cells(row)))
            self.tables.append(table)


def cells(row: str) -> list[str]:
    """A table row's cells, stripped (pipes inside code spans are cells' text on GitHub only when escaped)."""
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", inner)]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading (github-slugger): its text as rendered, lowercased, every character but
    letters, marks, digits, connector punctuation (`_`), hyphens and spaces removed, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = text.replace("`", "").replace("*", "")  # code spans and emphasis markers
    kept = [
        ch
        for ch in text.lower()
        if ch in " -" or ch.isalnum() or unicodedata.category(ch)[0] in "MN" or unicodedata.category(ch) == "Pc"
    ]
    return "".join(kept).replace(" ", "-")


def _unique(name: str, seen: dict[str, int]) -> str:
    """GitHub's suffix for a heading whose anchor is taken: -1, -2, …"""
    if name not in seen:
        seen[name] = 0
        return name
    while True:
        seen[name] += 1
        candidate = f"{name}-{seen[name]}"
        if candidate not in seen:
            seen[candidate] = 0
            return candidate
