"""The dev cluster's `local` node from outside: its pods are processes on this machine."""

from __future__ import annotations

import contextlib
import os
import signal

from tests.support.cluster import DevCluster

from kubetrain.dev.layout import Layout


def sigkill_pod(cluster: DevCluster, namespace: str, pod: str) -> int:
    """SIGKILL every container of `pod`, as the OOM killer or a crashed node would: no SIGTERM,
    no grace period, no checkpoint on the way out. Returns how many containers it killed."""
    pods = Layout(cluster.kubeconfig.parent).pods / namespace / pod
    killed = 0
    for pid_file in pods.glob("*/*.pid"):
        # Each container is a process group (unshare and the PID namespace under it).
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
            killed += 1
    return killed
