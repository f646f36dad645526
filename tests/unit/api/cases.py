"""Manifests for the API tests: the examples, and the table of invalid manifests.

Shared by the unit tests (pydantic) and tests/integration/test_crd.py (the API server).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
TABLE = Path(__file__).with_name("invalid_manifests.yaml")


def example(name: str) -> dict[str, Any]:
    """The manifest of examples/<name>."""
    return yaml.safe_load((ROOT / "examples" / name).read_text())


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass(frozen=True)
class InvalidCase:
    """A manifest both validators must reject, naming `path` (map keys as `[key]`)."""

    name: str
    manifest: dict[str, Any]
    path: str

    @property
    def dotted_path(self) -> str:
        """The path as pydantic's locations read: `a.b[key].c` becomes `a.b.key.c`."""
        return re.sub(r"\[([^\]0-9][^\]]*)\]", r".\1", self.path)


def invalid_cases() -> list[InvalidCase]:
    cases = []
    for entry in yaml.safe_load(TABLE.read_text()):
        manifest = example(entry["base"])
        patches = entry["patch"] if isinstance(entry["patch"], list) else [entry["patch"]]
        for patch in patches:
            manifest = merge_patch(manifest, patch)
        cases.append(InvalidCase(entry["name"], manifest, entry["path"]))
    return cases
