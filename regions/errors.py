"""Errors for bad user input, shared by every package.

`regions` imports nothing of ours, so the input-error type lives here and every
package raises it (or a subclass); the CLI turns it into a message and exit 2.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what, and how to fix it."""

    path: str  # key path such as "jurisdictions.eu.regions[1].region", or "file:line"
    message: str
    fix: str = ""
    rule: str = ""

    def render(self) -> str:
        rule = f"[{self.rule}] " if self.rule else ""
        fix = f"\n    fix: {self.fix}" if self.fix else ""
        return f"  - {rule}{self.path}: {self.message}{fix}"


class InputError(Exception):
    """A bad config, trace, experiment file, CR spec or flag. Never a bug."""

    exit_code = 2

    def __init__(self, summary: str, problems: list[Problem] | None = None):
        self.summary = summary
        self.problems = list(problems or [])
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.summary]
        lines += [p.render() for p in self.problems]
        return "\n".join(lines)


def closest(word: object, choices, n: int = 1) -> list[str]:
    """The choices a misspelt `word` most likely meant, for "did you mean" fixes."""
    return difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.6)
