"""The Go-built test tools (kube-score, kstatus; helm and the control plane), built or reused by
the hack/build-*.sh scripts."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from tests.support import ROOT


@functools.cache
def _built(script: str) -> Path:
    """Run hack/<script> (a cold build takes minutes, a warm one a second); the directory it
    prints last."""
    out = subprocess.run([str(ROOT / "hack" / script)], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"hack/{script} failed:\n{out.stderr[-4000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def tools_dir() -> Path:
    """The directory holding kube-score and kstatus."""
    return _built("build-tools.sh")


def tool(name: str) -> Path:
    return tools_dir() / name


def k8s_dir() -> Path:
    """The directory with helm, kubectl and the control plane."""
    return _built("build-k8s.sh")
