"""Render the chart with the real helm (built from Go modules) and read what it produced."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from tests.support import ROOT
from tests.support.tools import k8s_dir

CHART = ROOT / "helm" / "kubetrain"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(k8s_dir() / "helm"), *args], capture_output=True, text=True, check=check, timeout=120
    )


def set_args(values: dict[str, Any] | None, tmp: Path | None = None) -> list[str]:
    """`--values FILE` for a dict of values (written next to the test's tmp files)."""
    if not values:
        return []
    path = (tmp or Path("/tmp")) / f"values-{abs(hash(yaml.safe_dump(values)))}.yaml"
    path.write_text(yaml.safe_dump(values))
    return ["--values", str(path)]


def render_text(values: dict[str, Any] | None = None, namespace: str = "kubetrain-system") -> str:
    out = helm(
        "template", "kt", str(CHART), "--namespace", namespace, *set_args(values), check=False
    )
    if out.returncode:
        raise RenderError(out.stderr)
    return out.stdout


def render(
    values: dict[str, Any] | None = None, namespace: str = "kubetrain-system"
) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render_text(values, namespace)) if d]


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


class RenderError(Exception):
    """helm refused the values; the message is what the user sees."""
