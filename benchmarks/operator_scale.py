#!/usr/bin/env python3
"""Benchmark 1 of issue 11: the operator at scale on the dev cluster's kwok nodes.

Simulated pools (800 CPU nodes, 200 GPU nodes x 8 by default) whose pods kwok ends a few
seconds after they run (kubetrain.dev.pools.outcome_stages), one `kubetrain operator` process
per scenario in a fresh namespace, and TrainingJobs submitted at a fixed rate and in bursts.
Reports per scenario: jobs fully reconciled per second (created -> Running -> Succeeded), the
operator-added latencies, API requests per job by verb from the API server's own
apiserver_request_total, the operator's RSS and CPU seconds (from /proc), the time to converge
after a restart with the jobs in place, and the API traffic of the idle finished jobs.

    .venv/bin/python benchmarks/operator_scale.py                       # rate 20/s + burst 1000
    .venv/bin/python benchmarks/operator_scale.py --burst 1000 --burst 5000 --idle-seconds 300
    .venv/bin/python benchmarks/operator_scale.py --smoke               # 5 nodes, 20 jobs

Export KUBETRAIN_DEV_CONFIG / KUBETRAIN_DEV_DIR first when the cluster is not the default one.
Results: a table on stdout and JSON (--out). docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kwok_bench as kb
from kubernetes import client

TRANSITIONS_PER_JOB = 3
"""created -> Pending, Pending -> Running, Running -> Succeeded."""


def _wait_operator(port: int) -> None:
    kb.wait_operator_up(port)
    time.sleep(2)  # kopf's watches start after the metrics server


def _wait_idle(pid: int, timeout: float, window: float = 5.0) -> float:
    """Until the operator has worked off its backlog of watch events (under 2% of a core over
    `window` seconds: the jobs' phases can be final long before); the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        before = kb.cpu_seconds(pid)
        time.sleep(window)
        if kb.cpu_seconds(pid) - before < 0.02 * window:
            break
    return time.monotonic() - start


def _submit_all(
    custom: client.CustomObjectsApi,
    namespace: str,
    jobs: list[dict[str, Any]],
    watcher: kb.Watcher,
    rate: float | None,
) -> None:
    """Burst (rate None): as fast as 8 client threads go. Else `rate` jobs per second."""

    def one(job: dict[str, Any]) -> None:
        watcher.times(job["metadata"]["name"]).submitted = time.monotonic()
        kb.submit(custom, namespace, job)

    with ThreadPoolExecutor(8) as pool:
        start = time.monotonic()
        futures = []
        for i, job in enumerate(jobs):
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            futures.append(pool.submit(one, job))
        for f in futures:
            f.result()


def _stats(values: list[float]) -> dict[str, float | None]:
    rounded = [round(v, 3) for v in values]
    return {
        "n": len(values),
        "p50": kb.percentile(rounded, 50),
        "p99": kb.percentile(rounded, 99),
        "max": max(rounded) if rounded else None,
    }


def _latencies(times: list[kb.JobTimes]) -> dict[str, Any]:
    def span(a: str, b: str) -> list[float]:
        out = []
        for t in times:
            start = t.submitted if a == "submitted" else getattr(t, a, None) or t.phases.get(a)
            end = getattr(t, b, None) if b in ("first_pod", "pod_running") else t.phases.get(b)
            if start is not None and end is not None:
                out.append(end - start)
        return out

    return {
        "created_to_children": _stats(span("submitted", "first_pod")),
        "created_to_running": _stats(span("submitted", "Running")),
        "pod_running_to_job_running": _stats(span("pod_running", "Running")),
        "pod_succeeded_to_job_succeeded": _stats(span("pod_succeeded", "Succeeded")),
        "created_to_succeeded": _stats(span("submitted", "Succeeded")),
    }


def _requests_by_verb(requests: dict[str, int], jobs: int) -> dict[str, float]:
    """The operator's requests per job: the benchmark's own creates and watches subtracted."""
    own = {"POST trainingjobs": jobs}
    per_job = {}
    for key, value in requests.items():
        value -= own.get(key, 0)
        if key.startswith("WATCH ") or value <= 0:
            continue
        per_job[key] = round(value / jobs, 2)
    return per_job


def run_scenario(
    cluster: kb.DevCluster,
    api: client.ApiClient,
    args: argparse.Namespace,
    name: str,
    jobs: int,
    rate: float | None,
    workdir: Path,
) -> dict[str, Any]:
    """One scenario in its own namespace with its own operator; the measurements."""
    namespace = kb.new_namespace(cluster, "bench")
    config = kb.operator_config(cluster, workdir / f"{name}.yaml")
    log = workdir / f"{name}-operator.log"
    op = kb.start_operator(cluster, namespace, config, log)
    try:
        return _measure(cluster, api, args, name, jobs, rate, workdir, namespace, config, op)
    finally:
        op.stop()
        if not args.keep_namespaces:
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _measure(
    cluster: kb.DevCluster,
    api: client.ApiClient,
    args: argparse.Namespace,
    name: str,
    jobs: int,
    rate: float | None,
    workdir: Path,
    namespace: str,
    config: Path,
    op: Any,
) -> dict[str, Any]:
    custom = client.CustomObjectsApi(api)
    log = op.log
    assert op.proc is not None
    pid = op.proc.pid
    _wait_operator(op.metrics_port)
    result: dict[str, Any] = {"scenario": name, "jobs": jobs, "rate": rate, "log": str(log)}
    time.sleep(args.settle)
    result["rss_idle_empty_mib"] = round(kb.rss_mib(pid), 1)
    manifests = [
        kb.job_manifest(f"j{i:05d}", "gpu-bench" if i % 5 == 4 and args.gpu_nodes else kb.CPU_POOL)
        for i in range(jobs)
    ]
    watcher = kb.Watcher(api, namespace)
    before, cpu0, sampler = kb.request_counts(cluster), kb.cpu_seconds(pid), kb.ProcessSampler(pid)
    profiler = _start_profile(args, pid, workdir / f"{name}-profile")
    t0 = time.monotonic()
    _submit_all(custom, namespace, manifests, watcher, rate)
    submitted = time.monotonic() - t0
    names = [m["metadata"]["name"] for m in manifests]
    timeout = args.timeout or 300 + jobs
    done = watcher.wait(names, lambda t: t.phase == "Succeeded", timeout)
    times = [watcher.times(n) for n in names]
    last = max((t.phases.get("Succeeded", 0.0) for t in times), default=t0)
    cpu1, after = kb.cpu_seconds(pid), kb.request_counts(cluster)
    result["rss_peak_mib"] = round(sampler.stop(), 1)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        profiler.wait(60)
    succeeded = sum(1 for t in times if t.phase == "Succeeded")
    requests = kb.diff(after, before)
    op_requests = _requests_by_verb(requests, jobs)
    op_writes = kb.writes({k: v * jobs for k, v in op_requests.items()})
    result.update(
        all_succeeded=done,
        succeeded=succeeded,
        phases={p: sum(1 for t in times if t.phase == p) for p in {t.phase for t in times}},
        submit_seconds=round(submitted, 2),
        wall_seconds=round(last - t0, 2),
        jobs_per_second=round(succeeded / (last - t0), 2) if succeeded else 0.0,
        latency_seconds=_latencies(times),
        cpu_seconds=round(cpu1 - cpu0, 2),
        cpu_ms_per_job=round(1000 * (cpu1 - cpu0) / jobs, 1),
        api_requests=requests,
        operator_requests_per_job=op_requests,
        operator_writes_per_job=round(op_writes / jobs, 2),
        operator_writes_per_transition=round(op_writes / jobs / TRANSITIONS_PER_JOB, 2),
    )
    result["catch_up_seconds"] = round(_wait_idle(pid, timeout=300), 1)
    time.sleep(args.settle)
    result["rss_idle_with_jobs_mib"] = round(kb.rss_mib(pid), 1)
    if args.idle_seconds:
        before = kb.request_counts(cluster)
        time.sleep(args.idle_seconds)
        result["idle_window_seconds"] = args.idle_seconds
        result["idle_requests"] = kb.diff(kb.request_counts(cluster), before)
    if args.restart:
        result["restart"] = _restart(cluster, op, jobs, namespace, config, log)
    watcher.stop()
    return result


def _restart(
    cluster: kb.DevCluster, op: Any, jobs: int, namespace: str, config: Path, log: Path
) -> dict[str, Any]:
    """Stop the operator, start a new one, time until it has reconciled every existing job."""
    op.stop()
    before = kb.request_counts(cluster)
    t0 = time.monotonic()
    new = kb.start_operator(cluster, namespace, config, log)
    deadline = t0 + 120 + jobs / 5
    while kb.operator_jobs_seen(new.metrics_port) < jobs and time.monotonic() < deadline:
        time.sleep(0.2)
    converged = time.monotonic() - t0
    seen = kb.operator_jobs_seen(new.metrics_port)
    time.sleep(2)
    requests = kb.diff(kb.request_counts(cluster), before)
    pid = new.proc.pid if new.proc else 0
    out = {
        "jobs_seen": seen,
        "converge_seconds_incl_process_start": round(converged, 2),
        "requests": requests,
        "rss_mib": round(kb.rss_mib(pid), 1),
        "cpu_seconds": round(kb.cpu_seconds(pid), 2),
    }
    new.stop()
    return out


def _start_profile(args: argparse.Namespace, pid: int, out: Path) -> Any:
    """py-spy record of the operator during the scenario, if asked (--profile)."""
    if not args.profile:
        return None
    import subprocess

    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(spy), "record", "-p", str(pid), "-o", f"{out}.txt", "-f", "raw", "-r", "50",
         "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def machine() -> dict[str, Any]:
    mem = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )  # fmt: skip
    import kopf
    import kubernetes

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kopf": kopf.__version__,
        "kubernetes_client": kubernetes.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [
        ("jobs", lambda r: r["jobs"]),
        ("rate (jobs/s submitted; - = burst)", lambda r: r["rate"] or "-"),
        ("all Succeeded", lambda r: f"{r['succeeded']}/{r['jobs']}"),
        ("jobs fully reconciled / s", lambda r: r["jobs_per_second"]),
        ("created -> children p50/p99 s", lambda r: _pq(r, "created_to_children")),
        ("created -> Running p50/p99 s", lambda r: _pq(r, "created_to_running")),
        ("pod Running -> job Running p50/p99 s", lambda r: _pq(r, "pod_running_to_job_running")),
        ("pod done -> job Succeeded p50/p99 s", lambda r: _pq(r, "pod_succeeded_to_job_succeeded")),
        ("operator CPU s (ms/job)", lambda r: f"{r['cpu_seconds']} ({r['cpu_ms_per_job']})"),
        ("RSS MiB idle / peak / idle after", lambda r: f"{r['rss_idle_empty_mib']} / "
            f"{r['rss_peak_mib']} / {r['rss_idle_with_jobs_mib']}"),
        ("operator writes per transition", lambda r: r["operator_writes_per_transition"]),
        ("catch-up after the last Succeeded s", lambda r: r.get("catch_up_seconds", "-")),
        ("restart: converge s", lambda r: (r.get("restart") or {}).get(
            "converge_seconds_incl_process_start", "-")),
        ("idle finished jobs: requests", lambda r: sum((r.get("idle_requests") or {}).values())
            if "idle_requests" in r else "-"),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    print()
    print(" " * width + "".join(f" | {r['scenario']:>18}" for r in results))
    for label, get in rows:
        print(f"{label:<{width}}" + "".join(f" | {get(r)!s:>18}" for r in results))
    for r in results:
        print(f"\n{r['scenario']}: operator API requests per job (API server metrics):")
        for key, value in r["operator_requests_per_job"].items():
            print(f"  {key:<40} {value}")
        if r.get("idle_requests"):
            print(f"  idle window {r['idle_window_seconds']}s: {r['idle_requests']}")


def _pq(r: dict[str, Any], key: str) -> str:
    s = r["latency_seconds"][key]
    return f"{s['p50']} / {s['p99']}"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cpu-nodes", type=int, default=800)
    p.add_argument("--gpu-nodes", type=int, default=200)
    p.add_argument("--rate", type=float, default=20.0, help="jobs/s of the fixed-rate scenario")
    p.add_argument("--rate-jobs", type=int, default=600, help="jobs of it (0: skip it)")
    p.add_argument("--burst", type=int, action="append", help="a burst size (repeatable)")
    p.add_argument("--idle-seconds", type=float, default=60, help="idle-traffic window")
    p.add_argument("--restart", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--settle", type=float, default=5.0, help="seconds before idle readings")
    p.add_argument("--timeout", type=float, default=0, help="per scenario (0: from its size)")
    p.add_argument("--profile", action="store_true", help="py-spy record the operator")
    p.add_argument("--keep-nodes", action="store_true")
    p.add_argument("--keep-namespaces", action="store_true")
    p.add_argument("--smoke", action="store_true", help="5 nodes, a burst of 20, 3 s idle window")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/kubetrain-bench"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/operator_scale.json"))
    args = p.parse_args(argv)
    if args.smoke:
        args.cpu_nodes, args.gpu_nodes, args.rate_jobs = 4, 1, 0
        args.burst, args.idle_seconds, args.settle = [20], 3, 1.0
    args.burst = args.burst if args.burst is not None else [1000]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    cluster = kb.connect()
    api = cluster.api_client()
    core = client.CoreV1Api(api)
    info: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    pools = kb.pools(args.cpu_nodes, args.gpu_nodes)
    info["nodes_ready_seconds"] = round(kb.ensure_nodes(core, pools), 1)
    nodes = args.cpu_nodes + args.gpu_nodes
    print(f"{nodes} kwok nodes Ready and schedulable ({info['nodes_ready_seconds']} s)")
    scenarios = ([("rate", args.rate_jobs, args.rate)] if args.rate_jobs else []) + [
        (f"burst-{n}", n, None) for n in args.burst
    ]
    results = []
    try:
        for name, jobs, rate in scenarios:
            print(f"scenario {name}: {jobs} jobs" + (f" at {rate}/s" if rate else ""), flush=True)
            results.append(run_scenario(cluster, api, args, name, jobs, rate, args.workdir))
            kb.write_json(args.out, {**info, "scenarios": results})
    finally:
        if not args.keep_nodes:
            kb.remove_nodes(core)
    print_table(results)
    print(f"\nJSON: {args.out}")
    return {**info, "scenarios": results}


if __name__ == "__main__":
    threading.excepthook = lambda a: None  # a dropped watch thread at exit is not news
    main()
