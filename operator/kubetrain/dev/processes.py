"""Background processes of the dev cluster, tracked by pid file.

Every component (etcd, the API server, kwok, SeaweedFS, the local node, ...) runs detached in
its own process session, with its output in a log file. Its pid file records the pid *and* the
kernel's start time for it, so that `stop` never signals an unrelated process that happens to
reuse a pid. Stopping sends SIGTERM to the whole process group, waits, then escalates to
SIGKILL (SeaweedFS, for one, can take over 20 s to exit on SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class DevClusterError(RuntimeError):
    """A dev cluster component failed; the message says which and where its log is."""


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return int(fields[19])


def alive(pid: int, start_time: int | None = None) -> bool:
    """Whether `pid` runs and, if `start_time` is given, is still the same process."""
    now = process_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def terminate(pid: int, start_time: int | None, grace: float, *, group: bool = True) -> None:
    """SIGTERM the process (group), wait up to `grace` seconds, then SIGKILL it."""
    if not alive(pid, start_time):
        return
    kill: Callable[[int, int], None] = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid, start_time):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid, start_time) and time.monotonic() < deadline:
        time.sleep(0.05)


@dataclass(frozen=True)
class Tracked:
    """A running component as its pid file records it."""

    name: str
    pid: int
    start_time: int


class Supervisor:
    """Starts, finds and stops the named background processes of one dev cluster."""

    def __init__(self, run_dir: Path, log_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def get(self, name: str) -> Tracked | None:
        """The running process recorded under `name`, or None (stale pid files are removed)."""
        path = self._pid_file(name)
        try:
            pid_text, start_text = path.read_text().split()
            tracked = Tracked(name, int(pid_text), int(start_text))
        except (OSError, ValueError):
            return None
        if alive(tracked.pid, tracked.start_time):
            return tracked
        path.unlink(missing_ok=True)
        return None

    def tracked(self) -> list[Tracked]:
        if not self.run_dir.exists():
            return []
        found = (self.get(p.stem) for p in sorted(self.run_dir.glob("*.pid")))
        return [t for t in found if t is not None]

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Tracked:
        """Start `argv` detached unless `name` already runs; return what runs."""
        running = self.get(name)
        if running is not None:
            return running
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(name).open("ab") as log:
            log.write(f"\n==> {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        start_time = process_start_time(proc.pid) or 0
        self._pid_file(name).write_text(f"{proc.pid} {start_time}\n")
        return Tracked(name, proc.pid, start_time)

    def stop(self, name: str, grace: float = 10.0) -> bool:
        """Stop `name` if it runs; True when something was stopped."""
        tracked = self.get(name)
        if tracked is None:
            return False
        terminate(tracked.pid, tracked.start_time, grace)
        self._pid_file(name).unlink(missing_ok=True)
        return True

    def log_tail(self, name: str, lines: int = 15) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    supervisor: Supervisor | None = None,
    component: str | Sequence[str] = (),
) -> None:
    """Poll `check` until it holds; raise DevClusterError naming `what` (and a log) if not.

    If one of the `component`s exits meanwhile, fail at once with the end of its log.
    """
    components = [component] if isinstance(component, str) else list(component)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if supervisor is not None:
            for name in components:
                if supervisor.get(name) is None:
                    raise DevClusterError(
                        f"{name} exited while waiting for {what}; the end of "
                        f"{supervisor.log_path(name)}:\n{supervisor.log_tail(name)}"
                    )
        if time.monotonic() > deadline:
            detail = "".join(
                f"; the end of {supervisor.log_path(n)}:\n{supervisor.log_tail(n)}"
                for n in components
                if supervisor is not None
            )
            raise DevClusterError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(0.2)
