"""The dev cluster's own ceiling under benchmarks/operator_scale.py: what the API server, etcd,
the scheduler and kwok manage on this machine with no operator at all.

N bare pods, each shaped like a TrainingJob's trainer pod (the same node selector on the
benchmark's CPU pool, which kwok ends 3-5 s after it runs), are created as one burst straight
through the API (16 client threads, as fast as the API server takes them), and the script
times them from a watch: pods created per second, pods Succeeded per second (first creation to
last Succeeded) and creation -> Succeeded p50/p99. A TrainingJob costs the cluster at least
this much (its pod) plus the job object, its ConfigMap, its status writes and Events, so the
jobs/s operator_scale reports can never exceed the pods/s measured here.

    .venv/bin/python benchmarks/cluster_ceiling.py --pods 1000
    .venv/bin/python benchmarks/cluster_ceiling.py --smoke       # 20 pods on 5 nodes
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kwok_bench as kb
from kubernetes import client


def bare_pod(name: str) -> dict[str, Any]:
    """A trainer-shaped pod with no owner: the operator's label (so the watch sees it), the
    benchmark CPU profile's node selector and resources, the restricted security context the
    namespace enforces."""
    profile = kb.PROFILES[0]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-a1-trainer",
                     "labels": {"kubetrain.io/job-name": name, "kubetrain.io/attempt": "1"}},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": profile["nodeSelector"],
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "trainer", "image": "kubetrain/trainer:dev",
                            "securityContext": {"allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]}},
                            "resources": {"requests": profile["resources"],
                                          "limits": profile["resources"]}}],
        },
    }  # fmt: skip


def run(core: client.CoreV1Api, api: client.ApiClient, cluster: Any, pods: int,
        timeout: float) -> dict[str, Any]:  # fmt: skip
    namespace = kb.new_namespace(cluster, "ceiling")
    watcher = kb.Watcher(api, namespace)
    names = [f"p{i:05d}" for i in range(pods)]
    try:
        started = time.monotonic()

        def create(name: str) -> None:
            core.create_namespaced_pod(namespace, bare_pod(name), _preload_content=False)
            watcher.times(name).submitted = time.monotonic()

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(create, names))
        created = time.monotonic() - started
        done = watcher.wait(names, lambda t: t.pod_succeeded is not None, timeout)
        times = [watcher.times(n) for n in names]
        ended = [t for t in times if t.pod_succeeded is not None and t.submitted is not None]
        last = max((t.pod_succeeded or 0.0) for t in ended) if ended else started
        latency = [(t.pod_succeeded or 0.0) - (t.submitted or 0.0) for t in ended]
        return {
            "pods": pods, "all_succeeded": done, "succeeded": len(ended),
            "create_seconds": round(created, 2),
            "pods_created_per_second": round(pods / created, 2),
            "pods_succeeded_per_second": round(len(ended) / (last - started), 2),
            "created_to_succeeded_p50": kb.percentile(latency, 50),
            "created_to_succeeded_p99": kb.percentile(latency, 99),
        }  # fmt: skip
    finally:
        watcher.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pods", type=int, default=1000)
    p.add_argument("--cpu-nodes", type=int, default=800)
    p.add_argument("--gpu-nodes", type=int, default=200)
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--smoke", action="store_true", help="20 pods on 5 nodes")
    p.add_argument("--out", type=Path, default=kb.ROOT / "benchmarks/results/cluster_ceiling.json")
    args = p.parse_args(argv)
    if args.smoke:
        args.pods, args.cpu_nodes, args.gpu_nodes, args.timeout = 20, 4, 1, 120
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    cluster = kb.connect()
    api = cluster.api_client()
    core = client.CoreV1Api(api)
    kb.ensure_nodes(core, kb.pools(args.cpu_nodes, args.gpu_nodes))
    result = run(core, api, cluster, args.pods, args.timeout)
    for key, value in result.items():
        print(f"{key:28} {value}")
    kb.write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
