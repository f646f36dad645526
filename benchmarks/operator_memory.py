"""Where the operator's memory goes with many jobs: `kubetrain operator` under tracemalloc.

Submits a burst of jobs (operator_scale's) with the operator started through this file's
`serve` (the same CLI, with `tracemalloc` on and a SIGUSR1 handler that writes the largest
allocation sites), signals it when a third of the jobs have Succeeded (mid-burst) and again
once every job has, and prints the top sites by size with the operator's RSS each time. Python
allocations only; RSS also counts the interpreter, the libraries and freed-but-kept arenas.

    .venv/bin/python benchmarks/operator_memory.py --jobs 2000
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kwok_bench as kb
from kubernetes import client


def serve() -> None:
    """The operator CLI, traced; SIGUSR1 writes the top allocation sites to $TRACE_OUT."""
    tracemalloc.start(12)
    out = Path(os.environ["TRACE_OUT"])
    dumps = [0]

    def dump(*_: Any) -> None:
        dumps[0] += 1
        snapshot = tracemalloc.take_snapshot()
        lines = [f"traced total {sum(s.size for s in snapshot.statistics('filename')) >> 20} MiB"]
        for stat in snapshot.statistics("traceback")[:25]:
            lines.append(f"{stat.size >> 10} KiB in {stat.count} blocks")
            lines += [f"    {frame}" for frame in stat.traceback.format()[-8:]]
        out.with_suffix(f".{dumps[0]}.txt").write_text("\n".join(lines))

    signal.signal(signal.SIGUSR1, dump)
    from kubetrain.cli import main

    sys.argv = ["kubetrain", *sys.argv[2:]]
    main()


def _dump(pid: int, path: Path, when: str) -> None:
    rss = kb.rss_mib(pid)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120  # the snapshot of a large heap takes a while
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(1)
    print(f"--- {when}: RSS {rss:.0f} MiB")
    print(path.read_text() if path.exists() else "(no trace written)")


def measure(jobs: int, workdir: Path) -> None:
    cluster = kb.connect()
    api = cluster.api_client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    kb.ensure_nodes(core, kb.pools(800, 200))
    namespace = kb.new_namespace(cluster, "memory")
    config = kb.operator_config(cluster, workdir / "memory.yaml")
    trace = workdir / "memory-trace.txt"
    for old in workdir.glob("memory-trace.*"):
        old.unlink()
    os.environ["TRACE_OUT"] = str(trace)
    operator = kb.start_operator(cluster, namespace, config, workdir / "memory-operator.log",
                                 command=[sys.executable, __file__, "--serve"])  # fmt: skip
    watcher = kb.Watcher(api, namespace)
    assert operator.proc is not None
    pid = operator.proc.pid
    try:
        kb.wait_operator_up(operator.metrics_port)
        rss_empty = kb.rss_mib(pid)
        names = [f"m{i:05d}" for i in range(jobs)]
        for name in names:
            kb.submit(custom, namespace, kb.job_manifest(name))
        print(f"RSS with no job: {rss_empty:.0f} MiB")
        watcher.wait(names[: jobs // 3], lambda t: t.phase == "Succeeded", 600 + jobs / 2)
        _dump(pid, trace.with_suffix(".1.txt"), f"mid-burst ({jobs // 3} jobs Succeeded)")
        watcher.wait(names, lambda t: t.phase == "Succeeded", 600 + jobs / 2)
        time.sleep(10)
        _dump(pid, trace.with_suffix(".2.txt"), f"all {jobs} jobs Succeeded")
    finally:
        watcher.stop()
        operator.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--jobs", type=int, default=2000)
        parser.add_argument("--workdir", type=Path, default=Path("/tmp/kubetrain-bench"))
        args = parser.parse_args()
        args.workdir.mkdir(parents=True, exist_ok=True)
        measure(args.jobs, args.workdir)
