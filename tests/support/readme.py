"""The README's commands, read from the README itself (so a test runs what a reader copies)."""

from __future__ import annotations

import re

from tests.support import ROOT

README = ROOT / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end != -1 else None]


def code_blocks(title: str) -> list[list[str]]:
    """The fenced blocks of a section, as lists of lines."""
    return [
        b.strip("\n").splitlines() for b in re.findall(r"```[a-z]*\n(.*?)```", section(title), re.S)
    ]


def commands(block: list[str]) -> list[str]:
    """Shell commands, with `\\` continuations joined and comments dropped."""
    joined = "\n".join(block).replace("\\\n", " ")
    return [c.strip() for c in joined.splitlines() if c.strip() and not c.strip().startswith("#")]
