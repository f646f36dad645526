"""The Go-built test tools (kube-score, kstatus), built or reused by hack/build-tools.sh."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from tests.support import ROOT


@functools.cache
def tools_dir() -> Path:
    """The directory holding the tools; a cold build takes a few minutes, a warm one a second."""
    out = subprocess.run(
        [str(ROOT / "hack" / "build-tools.sh")], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(f"hack/build-tools.sh failed:\n{out.stderr[-4000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def tool(name: str) -> Path:
    return tools_dir() / name


@functools.cache
def k8s_dir() -> Path:
    """The directory with helm, kubectl and the control plane, built or reused by build-k8s.sh."""
    out = subprocess.run(
        [str(ROOT / "hack" / "build-k8s.sh")], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(f"hack/build-k8s.sh failed:\n{out.stderr[-4000:]}")
    return Path(out.stdout.strip().splitlines()[-1])
