"""Container logs of the local node's pods, as files under the dev cluster's state directory.

Layout: `<state>/pods/<namespace>/<pod>/<uid>/logs/<container>.log`, and
`<container>.previous.log` for the run before the last restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubetrain.dev.layout import Layout
from kubetrain.dev.processes import alive


class LogNotFound(LookupError):
    """No log for that pod/container on the local node."""


@dataclass(frozen=True)
class LogSource:
    path: Path
    pid_file: Path

    def running(self) -> bool:
        try:
            return alive(int(self.pid_file.read_text()))
        except (OSError, ValueError):
            return False


def find(
    state_dir: Path, namespace: str, pod: str, container: str | None, *, previous: bool = False
) -> LogSource:
    pod_root = Layout(state_dir).pods / namespace / pod
    runs = sorted(
        (d for d in pod_root.glob("*") if (d / "logs").is_dir()), key=lambda d: d.stat().st_mtime
    )
    if not runs:
        raise LogNotFound(
            f'no logs for pod "{pod}" in namespace "{namespace}" on the local node '
            "(only pods on the `local` node have logs; kwok pods run nothing)"
        )
    run = runs[-1]
    names = sorted(
        p.name.removesuffix(".log")
        for p in (run / "logs").glob("*.log")
        if ".previous" not in p.name
    )
    if container is None:
        if len(names) != 1:
            raise LogNotFound(f'pod "{pod}" has containers {names}: choose one with -c')
        container = names[0]
    suffix = ".previous.log" if previous else ".log"
    path = run / "logs" / f"{container}{suffix}"
    if not path.exists():
        what = "a previous run of " if previous else ""
        raise LogNotFound(
            f'no log for {what}container "{container}" of pod "{pod}"; containers: {names}'
        )
    return LogSource(path, run / f"{container}.pid")
