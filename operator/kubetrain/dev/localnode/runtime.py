"""Starting a container as a process on this machine.

As root, each container runs under `unshare --mount --uts`: in its private mount namespace its
volumes are bind-mounted at their mountPaths and the pod's hosts file over /etc/hosts (so
Service names resolve), and its hostname is the pod's. The wrapper shell `exec`s the command,
so the process the kubelet waits on *is* the container's process and its exit code is the
container's. Without root there are no namespaces: the process runs with the pod's env in its
working directory and mounts are skipped (its log says so).

There is no image: the command runs in this machine's Python environment.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from kubetrain.dev.localnode.volumes import Mount


def namespaces_available() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def wrapper_script(
    mounts: Sequence[Mount], hosts_file: Path, hostname: str, workdir: str | None
) -> str:
    """The shell that prepares the mount namespace and then execs the container command."""
    lines = ["set -e"]
    for m in mounts:
        target = shlex.quote(m.target)
        source = shlex.quote(str(m.source))
        if m.source.is_dir():
            lines.append(f"mkdir -p {target}")
        else:
            lines.append(f"mkdir -p $(dirname {target}); [ -e {target} ] || : > {target}")
        lines.append(f"mount --bind {source} {target}")
        if m.read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    lines.append(f"mount --bind {shlex.quote(str(hosts_file))} /etc/hosts")
    lines.append(f"hostname {shlex.quote(hostname[:63])}")
    if workdir:
        lines.append(f"mkdir -p {shlex.quote(workdir)} && cd {shlex.quote(workdir)}")
    lines.append('exec "$@"')
    return "\n".join(lines) + "\n"


def launch(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    script: str,
    script_path: Path,
    log_path: Path,
    cwd: Path,
    isolate: bool,
) -> subprocess.Popen[bytes]:
    """Start the container process detached in its own session, output to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        if isolate:
            script_path.write_text(script)
            full = [
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "/bin/sh",
                str(script_path),
                *argv,
            ]
        else:
            log.write(b"[local node] not root: volumes are not mounted, /etc/hosts is shared\n")
            log.flush()
            full = list(argv)
        return subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
