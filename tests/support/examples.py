"""The example manifests (examples/*.yaml), each with the outcome it promises.

Every example opens with comment lines, the last of which starts with `# Expect:` and says what
a user sees when it runs: the phase and, for a job with a threshold, the verdict, e.g.
`phase Succeeded, successCriteriaMet true (accuracy >= 0.9)`. `example` loads one manifest;
`expectation` reads its promise.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.support import ROOT

EXAMPLES_DIR = ROOT / "examples"
EXAMPLES: list[Path] = sorted(EXAMPLES_DIR.glob("*.yaml"))
"""Every example manifest, by file name."""
EXPECT = "# Expect:"


def path_of(name: str) -> Path:
    """examples/<name>, with or without the .yaml suffix."""
    return EXAMPLES_DIR / (name if name.endswith(".yaml") else f"{name}.yaml")


def example(name: str, **spec_changes: Any) -> dict[str, Any]:
    """The manifest of examples/<name>; `spec_changes` replace top-level spec sections."""
    manifest: dict[str, Any] = yaml.safe_load(path_of(name).read_text())
    manifest["spec"].update(spec_changes)
    return manifest


@dataclass(frozen=True)
class Expectation:
    """What an example promises: `phase`; `metric comparison value` when it has a verdict; the
    verdict, progress column, node pool and artifacts when it names them."""

    text: str
    phase: str
    metric: str | None = None
    comparison: str | None = None
    value: float | None = None
    verdict: str | None = None  # "true", "false" or "unknown"
    progress: str | None = None
    pool: str | None = None
    artifacts: tuple[str, ...] = ()


def _search(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def expectation(name: str) -> Expectation:
    """The example's `# Expect:` sentence (it may continue on the next comment lines)."""
    header = itertools.takewhile(lambda line: line.startswith("#"), path_of(name).open())
    lines = [line.rstrip("\n") for line in header]
    start = next((i for i, line in enumerate(lines) if line.startswith(EXPECT)), None)
    if start is None:
        raise AssertionError(f"{path_of(name)} has no '{EXPECT}' line in its header")
    parts = [lines[start].removeprefix(EXPECT), *(x.removeprefix("#") for x in lines[start + 1 :])]
    text = " ".join(" ".join(parts).split())
    phase = _search(r"\bphase (\w+)", text)
    if phase is None:
        raise AssertionError(f"{path_of(name)}: '{EXPECT}' names no phase: {text}")
    artifacts = _search(r"\bartifacts ([\w/-]+(?:\.\w+)?(?:, [\w/-]+(?:\.\w+)?)*)", text)
    promised = Expectation(
        text,
        phase,
        verdict=_search(r"\bsuccessCriteriaMet (true|false|unknown)\b", text),
        progress=_search(r'\bprogress "([^"]+)"', text),
        pool=_search(r"\bplaced on the `?([\w-]+)`? pool", text),
        artifacts=tuple(a.strip() for a in artifacts.split(",")) if artifacts else (),
    )
    verdict = re.search(r"\(([\w-]+) ([<>]=) ([0-9.]+)", text)
    if verdict is None:
        return promised
    metric, comparison, value = verdict.groups()
    return dataclasses.replace(promised, metric=metric, comparison=comparison, value=float(value))
