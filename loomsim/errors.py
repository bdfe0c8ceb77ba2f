"""The error types every Loom layer raises for bad input, and how they are shown."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence


class LoomError(Exception):
    """Bad input from the user: the CLI prints the message (no traceback) and exits non-zero."""


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The valid name nearest to `name`, or None when nothing is close."""
    options = [str(c) for c in choices]
    hits = difflib.get_close_matches(str(name), options, n=1, cutoff=0.5)
    if hits:
        return hits[0]
    lowered = {o.lower(): o for o in options}
    return lowered.get(str(name).lower())


def choices_text(choices: Iterable[str], limit: int = 40) -> str:
    opts = sorted({str(c) for c in choices})
    text = ", ".join(opts[:limit])
    return text + (", ..." if len(opts) > limit else "")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where it is, what is wrong, what would be right."""

    file: str
    line: int | None
    path: str
    message: str
    expected: str | None = None
    suggestion: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        if self.expected:
            text += f" Expected {self.expected}."
        if self.suggestion:
            text += f" Did you mean '{self.suggestion}'?"
        return text


class ConfigError(LoomError):
    """Every problem found in one input file, reported together."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {self.problems[0].file}:" if n else "invalid input"
        super().__init__("\n".join([head] + [f"  - {p}" for p in self.problems]))
