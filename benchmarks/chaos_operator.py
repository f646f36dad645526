#!/usr/bin/env python3
"""Fault test of issue 11: the operator SIGKILLed at random points while jobs of mixed shapes
(1-3 workers, suspend and resume, retries, exhausted retries) go through their lifecycles on
the dev cluster's kwok nodes.

Afterwards one operator runs undisturbed until the jobs settle, then the script checks: no job
lost (every job has a phase), every job in the phase its shape should end in, with the attempt
count it should have (a doubled retry would show), no duplicate child (at most `workers` pods
per attempt, none of an attempt the status does not know), no orphan (every pod, ConfigMap,
Secret and Service is owned by a job that exists), nothing left running for a finished or
suspended job.

    .venv/bin/python benchmarks/chaos_operator.py                 # 200 kills, 50 jobs
    .venv/bin/python benchmarks/chaos_operator.py --kills 10 --jobs 8 --max-gap 2

With `--outage SECONDS` it runs the other fault test instead: the API server and etcd stopped
for that long while jobs run. Then the operator must still run, every job must reach its
final phase within 60 s of the API server's return (or of its pods' end, where the cluster
ran them later: see `_operator_lag`), and the operator's log must say so once
each way (one warning when the API server becomes unreachable, one when it is back) with no
error or traceback in between.

    .venv/bin/python benchmarks/chaos_operator.py --outage 60 --jobs 20

Prints a summary and writes JSON (--out); exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kwok_bench as kb
from kubernetes import client

from kubetrain.api import GROUP, PLURAL, VERSION


@dataclass(frozen=True)
class Shape:
    """A job's shape and what it must end as."""

    kind: str
    workers: int

    def manifest(self, name: str) -> dict[str, Any]:
        profile = kb.FLAKY_POOL if self.kind in ("retry", "doomed") else kb.CPU_POOL
        policy: dict[str, Any] = {"backoffLimit": 0 if self.kind == "doomed" else 2}
        if self.kind in ("suspended", "resumed"):
            policy["suspend"] = True
        return kb.job_manifest(name, profile, self.workers, **policy)

    def expected(self) -> tuple[str, set[int]]:
        """The final phase and the attempt numbers it may end with."""
        return {
            "ok": ("Succeeded", {1}),
            "retry": ("Succeeded", {2}),
            "doomed": ("Failed", {1}),
            "suspended": ("Suspended", {0}),
            "resumed": ("Succeeded", {1}),
            "paused": ("Succeeded", {1, 2}),  # suspended mid-run, resumed (or already done)
        }[self.kind]


KINDS = ("ok", "ok", "retry", "doomed", "suspended", "resumed", "paused")


def shapes(n: int, rng: random.Random) -> dict[str, Shape]:
    return {f"c{i:03d}": Shape(KINDS[i % len(KINDS)], rng.randint(1, 3)) for i in range(n)}


def _patch_suspend(custom: client.CustomObjectsApi, ns: str, name: str, value: bool) -> None:
    body = {"spec": {"runPolicy": {"suspend": value}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, body)


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    cluster = kb.connect()
    api = cluster.api_client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    kb.ensure_nodes(core, kb.pools(args.nodes, 0, args.nodes))
    namespace = kb.new_namespace(cluster, "chaos")
    args.workdir.mkdir(parents=True, exist_ok=True)
    config = kb.operator_config(cluster, args.workdir / "chaos.yaml", progressIntervalSeconds=2)
    log = args.workdir / "chaos-operator.log"
    jobs = shapes(args.jobs, rng)
    names = list(jobs)
    # Jobs are submitted and suspended/resumed across the kill phase, so the kills land in
    # every part of their lifecycles.
    plan: list[tuple[int, str, str]] = []  # (kill index, action, job)
    for i, name in enumerate(names):
        at = i * args.kills // max(1, len(names)) // 2
        plan.append((at, "create", name))
        if jobs[name].kind == "resumed":
            plan.append((at + rng.randint(1, max(1, args.kills // 3)), "resume", name))
        if jobs[name].kind == "paused":
            later = at + rng.randint(0, 2)
            plan += [(later, "suspend", name), (later + rng.randint(1, 3), "resume", name)]
    op = kb.start_operator(cluster, namespace, config, log)
    started = time.monotonic()
    kill_times = []
    for k in range(args.kills):
        for _, action, name in [p for p in plan if p[0] == k]:
            if action == "create":
                kb.submit(custom, namespace, jobs[name].manifest(name))
            else:
                _patch_suspend(custom, namespace, name, action == "suspend")
        op = kb.up(op)  # a kill point in its working life, not its imports
        time.sleep(rng.uniform(args.min_gap, args.max_gap))
        op.kill()
        kill_times.append(round(time.monotonic() - started, 2))
        op = kb.start_operator(cluster, namespace, config, log)
    for _, action, name in [p for p in plan if p[0] >= args.kills]:
        if action == "create":
            kb.submit(custom, namespace, jobs[name].manifest(name))
        else:
            _patch_suspend(custom, namespace, name, action == "suspend")
    settle_start = time.monotonic()
    problems = _wait_settled(custom, namespace, jobs, args.settle_timeout)
    settled = round(time.monotonic() - settle_start, 1)
    problems += _check_children(core, custom, namespace, jobs)
    op.stop()
    if not args.keep:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        kb.remove_nodes(core)
    return {
        "kills": args.kills,
        "jobs": args.jobs,
        "shapes": {n: f"{s.kind}/{s.workers}w" for n, s in jobs.items()},
        "kill_seconds": kill_times,
        "settle_seconds_after_last_kill": settled,
        "problems": problems,
        "operator_log": str(log),
        "namespace": namespace,
    }


UNREACHABLE = "the API server is unreachable"
BACK = "the API server is reachable again"


def outage(args: argparse.Namespace) -> dict[str, Any]:
    """The API server and etcd stopped for `args.outage` seconds while jobs run."""
    rng = random.Random(args.seed)
    cluster = kb.connect()
    api = cluster.api_client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    kb.ensure_nodes(core, kb.pools(args.nodes, 0, args.nodes))
    namespace = kb.new_namespace(cluster, "outage")
    args.workdir.mkdir(parents=True, exist_ok=True)
    config = kb.operator_config(cluster, args.workdir / "outage.yaml", progressIntervalSeconds=2)
    log = args.workdir / f"outage-{namespace}-operator.log"
    op = kb.start_operator(cluster, namespace, config, log)
    kinds = ("ok", "retry", "ok", "doomed")
    jobs = {f"o{i:03d}": Shape(kinds[i % len(kinds)], rng.randint(1, 3)) for i in range(args.jobs)}
    op = kb.up(op)
    for name, shape in jobs.items():
        kb.submit(custom, namespace, shape.manifest(name))
    deadline = time.monotonic() + 120
    while kb.operator_jobs_seen(op.metrics_port) < len(jobs) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # mid-run: pods created, some running, first attempts failing
    restart = kb.stop_api_server()
    stopped = time.monotonic()
    time.sleep(args.outage)
    restart()
    back, back_wall = time.monotonic(), dt.datetime.now(dt.UTC)
    problems = _wait_settled(custom, namespace, jobs, args.settle_timeout)
    converged = round(time.monotonic() - back, 1)
    lag = _operator_lag(core, custom, namespace, back_wall)
    if lag > 60:
        problems.append(f"a job ended {lag} s after the API server returned and its pods ended")
    if op.proc is None or op.proc.poll() is not None:
        problems.append("the operator exited during the outage")
    problems += _check_children(core, custom, namespace, jobs)
    problems += _log_problems(log)
    op.stop()
    if not args.keep:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    return {
        "outage_seconds": round(back - stopped, 1),
        "jobs": args.jobs,
        "converged_seconds_after_return": converged,
        "operator_lag_seconds": lag,
        "problems": problems,
        "operator_log": str(log),
    }


def _operator_lag(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, ns: str, back: dt.datetime
) -> float:
    """The longest a job took to reach its final phase after both the API server's return and
    the end of its last pod: the operator's part of the convergence. (Pods created after the
    outage can wait much longer for the cluster: kwok's nodes went NotReady while their leases
    could not be renewed, and the scheduler and kwok back off.)"""
    ended: dict[str, dt.datetime] = {}
    for pod in core.list_namespaced_pod(ns).items:
        for cs in pod.status.container_statuses or []:
            if cs.state and cs.state.terminated and cs.state.terminated.finished_at:
                name = pod.metadata.labels.get("kubetrain.io/job-name", "")
                ended[name] = max(ended.get(name, back), cs.state.terminated.finished_at)
    lag = 0.0
    for name, job in _jobs(custom, ns).items():
        done = (job.get("status") or {}).get("completionTime")
        if done:
            finished = dt.datetime.fromisoformat(done.replace("Z", "+00:00"))
            lag = max(lag, (finished - ended.get(name, back)).total_seconds())
    return lag


def _log_problems(log: Path) -> list[str]:
    """One warning each way, nothing at error level, no traceback."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    problems = []
    for text in (UNREACHABLE, BACK):
        said = [r for r in lines if r["message"].startswith(text)]
        if len(said) != 1 or said[0]["level"] != "warning":
            problems.append(f"the log says {text!r} {len(said)} times (expected one warning)")
    loud = [r for r in lines if r["level"] in ("error", "critical") or "error" in r]
    if loud:
        problems.append(f"{len(loud)} error lines in the log, e.g. {loud[0]['message'][:300]!r}")
    return problems


def _jobs(custom: client.CustomObjectsApi, ns: str) -> dict[str, dict[str, Any]]:
    items = custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
    return {j["metadata"]["name"]: j for j in items}


def _job_problems(found: dict[str, dict[str, Any]], jobs: dict[str, Shape]) -> list[str]:
    problems = []
    for name, shape in jobs.items():
        job = found.get(name)
        if job is None:
            problems.append(f"{name}: lost (the TrainingJob is gone)")
            continue
        status = job.get("status") or {}
        phase, attempts = shape.expected()
        attempt = int(status.get("attempt") or 0)
        if status.get("phase") != phase or attempt not in attempts:
            problems.append(
                f"{name} ({shape.kind}, {shape.workers} workers): phase "
                f"{status.get('phase')!r} attempt {attempt}, expected {phase} "
                f"attempt {sorted(attempts)}"
            )
        failed = int(status.get("failedAttempts") or 0)
        if failed != (1 if shape.kind in ("retry", "doomed") else 0):
            problems.append(f"{name} ({shape.kind}): failedAttempts {failed}")
    return problems


def _wait_settled(
    custom: client.CustomObjectsApi, ns: str, jobs: dict[str, Shape], timeout: float
) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        problems = _job_problems(_jobs(custom, ns), jobs)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(1)


def _check_children(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, ns: str, jobs: dict[str, Shape]
) -> list[str]:
    found = _jobs(custom, ns)
    uids = {j["metadata"]["uid"]: j for j in found.values()}
    problems = []
    per_attempt: dict[tuple[str, int], list[str]] = {}
    children = [
        ("Pod", core.list_namespaced_pod(ns).items),
        ("ConfigMap", core.list_namespaced_config_map(ns).items),
        ("Secret", core.list_namespaced_secret(ns).items),
        ("Service", core.list_namespaced_service(ns).items),
    ]
    for kind, items in children:
        for obj in items:
            labels = obj.metadata.labels or {}
            if "kubetrain.io/job-name" not in labels:
                continue  # the namespace's own (S3 credentials, kube-root-ca.crt)
            owners = [r.uid for r in obj.metadata.owner_references or []]
            if not any(uid in uids for uid in owners):
                problems.append(f"orphan {kind} {obj.metadata.name}")
            if kind != "Pod":
                continue
            job = uids.get(owners[0]) if owners else None
            attempt = int(labels.get("kubetrain.io/attempt", "0"))
            per_attempt.setdefault((labels["kubetrain.io/job-name"], attempt), []).append(
                obj.metadata.name
            )
            status = (job or {}).get("status") or {}
            if attempt > int(status.get("attempt") or 0):
                problems.append(f"pod {obj.metadata.name} of an attempt the status does not know")
            active = (
                obj.status.phase in ("Pending", "Running") and not obj.metadata.deletion_timestamp
            )
            if active and (status.get("phase") in ("Succeeded", "Failed", "Suspended")):
                problems.append(f"pod {obj.metadata.name} still {obj.status.phase} for a "
                                f"{status.get('phase')} job")  # fmt: skip
    for (name, attempt), pods in per_attempt.items():
        shape = jobs.get(name)
        if shape and len(pods) > shape.workers:
            problems.append(f"{name} attempt {attempt}: {len(pods)} pods for {shape.workers}")
    return problems


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--kills", type=int, default=200)
    p.add_argument("--outage", type=float, default=0, help="stop the API server this long")
    p.add_argument("--jobs", type=int, default=50)
    p.add_argument("--nodes", type=int, default=10, help="kwok nodes per pool (2 pools)")
    p.add_argument(
        "--min-gap", type=float, default=0.0, help="seconds from the operator's start to a kill"
    )
    p.add_argument("--max-gap", type=float, default=4.0)
    p.add_argument("--settle-timeout", type=float, default=180)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--keep", action="store_true", help="keep the namespace and nodes")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/kubetrain-bench"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/chaos_operator.json"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    result = outage(args) if args.outage else run(args)
    kb.write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "shapes"}, indent=2))
    print("OK" if not result["problems"] else "FAILED")
    return result


if __name__ == "__main__":
    sys.exit(1 if main()["problems"] else 0)
