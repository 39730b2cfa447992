"""A shell sample of the docs read as the shell reads it: each command's words (docs_check.py checks them)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

SEPARATORS = ("|", "||", "&&", ";", "&", ";;")


def commands(text: str, first_line: int, console: bool = False) -> Iterator[tuple[int, list[str]]]:
    """Each command of a shell sample as its words, with the line it starts on. A here-document's lines are its
    command's input, not commands; in a `console` block only the lines after a `$ ` prompt are commands."""
    joined = ""
    start = first_line
    here_document: str | None = None  # the word that ends the one being read
    for number, line in enumerate(text.splitlines(), start=first_line):
        if here_document is not None:
            here_document = None if line.strip() == here_document else here_document
            continue
        if not joined:
            if console and not line.startswith("$ "):
                continue
            start, line = number, re.sub(r"^\s*\$ ", "", line)
        joined += line
        if joined.endswith("\\"):
            joined = joined[:-1] + " "
            continue
        words, joined = words_of(joined), ""
        command: list[str] = []
        for position, word in enumerate([*words, ";"]):
            if word in ("<<", "<<-") and position + 1 < len(words):
                here_document = words[position + 1]
            if word in SEPARATORS:
                if command:
                    yield start, command
                command = []
            else:
                command.append(word)


def words_of(line: str) -> list[str]:
    """A command line's words as the shell splits them (quotes removed, `|`, `&&`, `;` words of their own), up to a
    word that starts a comment."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # shlex would end a word at "#" (a URL's fragment); the shell, only a word starting with it
    try:
        words = list(lexer)
    except ValueError:  # an unclosed quote: read it word by word
        words = line.split()
    comment = next((position for position, word in enumerate(words) if word.startswith("#")), len(words))
    return words[:comment]
