"""The table of invalid manifests (invalid_manifests.yaml): examples with edits that both
validators must reject. Shared by the unit tests (pydantic) and tests/integration/test_crd.py
(the API server).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.support.examples import example
from tests.support.manifests import merge_patch

TABLE = Path(__file__).with_name("invalid_manifests.yaml")


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
