"""Starting a container as a process on this machine.

As root, each container runs under `unshare --mount --uts --pid`: in its private mount
namespace its volumes are bind-mounted at their mountPaths and the pod's hosts file over
/etc/hosts (so Service names resolve); its hostname is the pod's; in its own PID namespace
(with its own /proc) the command is PID 1 and sees only its own processes, as in a container
(`ray stop` in one pod cannot kill another pod's Ray). The wrapper shell `exec`s the command;
`unshare` returns its exit status. SIGTERM goes to the container's PID 1 (which, as in any
container, ignores it unless it installed a handler); SIGKILL to `unshare` takes the whole
PID namespace down. Without root there are no namespaces: the process runs with the pod's env in its
working directory and mounts are skipped (its log says so).

There is no image: the command runs in this machine's Python environment.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from kubetrain.dev.localnode.volumes import Mount


def signal_container(pid: int, sig: int) -> None:
    """Deliver `sig` to a container started by `launch` (`pid` is what launch returned).

    SIGTERM goes to the container's PID 1 only, the way a container runtime stops a container;
    any other signal to the whole process group (SIGKILL: unshare and, with it, the namespace).
    """
    target = _namespace_init(pid) if sig == signal.SIGTERM else None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if target is not None:
            os.kill(target, sig)
        else:
            os.killpg(pid, sig)


def _namespace_init(pid: int) -> int | None:
    """The child that `unshare --fork` started (the container's PID 1), if there is one."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    if not exe.endswith("/unshare") or not children:
        return None
    return int(children[0])


def namespaces_available() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def wrapper_script(
    mounts: Sequence[Mount], hosts_file: Path, hostname: str, workdir: str | None
) -> str:
    """The shell that prepares the mount namespace and then execs the container command."""
    lines = ["set -e", f"mount --bind {shlex.quote(str(hosts_file))} /etc/hosts"]
    for m in _ordered(mounts, [hosts_file]):
        target = shlex.quote(m.target)
        source = shlex.quote(str(m.source))
        if m.source.is_dir():
            lines.append(f"mkdir -p {target}")
        else:
            lines.append(f"mkdir -p $(dirname {target}); [ -e {target} ] || : > {target}")
        lines.append(f"mount --bind {source} {target}")
        if m.read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    lines.append(f"hostname {shlex.quote(hostname[:63])}")
    # As in a container: the workingDir, else / (never the node's own pod directory, which a
    # volume mounted over one of its ancestors would hide).
    target = shlex.quote(workdir or "/")
    lines.append(f"mkdir -p {target} && cd {target}")
    lines.append('exec "$@"')
    return "\n".join(lines) + "\n"


def _ordered(mounts: Sequence[Mount], other_sources: Sequence[Path]) -> list[Mount]:
    """Mounts in an order where none hides the source of a later one.

    A target that contains another mount's source (say `/tmp`, when the dev cluster's state
    lives in /tmp) is mounted after every mount that does not, deepest target first.
    """
    sources = [m.source for m in mounts] + list(other_sources)

    def hides_a_source(m: Mount) -> bool:
        target = Path(m.target)
        return any(s != m.source and s.is_relative_to(target) for s in sources)

    safe = [m for m in mounts if not hides_a_source(m)]
    last = sorted(
        (m for m in mounts if hides_a_source(m)), key=lambda m: -len(Path(m.target).parts)
    )
    return safe + last


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
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",  # if unshare is killed, so is the container
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
