"""Kueue admission against the dev cluster with Kueue running: queued jobs' pods form one pod
group admitted all at once against a ClusterQueue's GPU quota (8 nvidia.com/gpu on the kwok
`gpu` pool), the job shows Queued with Kueue's reason while it waits, and priority orders
admission. Pods of namespaces that do not use Kueue never depend on it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.cluster import DevCluster
from tests.support.manifests import builtin_job
from tests.support.operator_harness import Harness, wait_for

KUEUE = "kueue.x-k8s.io/v1beta2"
GPU_QUOTA = 8
# The harness's `gpu` profile: 2 GPUs, 4 CPUs and 16Gi per pod; 4 pods take the whole quota.
WHOLE_QUOTA_WORKERS = 4


@pytest.fixture(scope="module")
def kueue_running(dev_cluster: DevCluster) -> None:
    """Kueue in the dev cluster: `up` with Kueue enabled adds it to a running cluster."""
    from kubetrain.dev import cluster
    from kubetrain.dev.config import load

    config = load(None)
    config = config.model_copy(update={"kueue": config.kueue.model_copy(update={"enabled": True})})
    cluster.up(config, progress=lambda msg: print(f"[dev up --kueue] {msg}", flush=True))
    assert cluster.status(config)["components"]["kueue"]["running"]


@pytest.fixture
def queue(harness: Harness, kueue_running: None) -> Iterator[str]:
    """A ResourceFlavor for the gpu pool, a ClusterQueue with 8 GPUs of quota, and a
    LocalQueue in the test's namespace; the LocalQueue's name."""
    suffix = uuid.uuid4().hex[:6]
    flavor, cluster_queue, local_queue = f"gpu-{suffix}", f"cq-{suffix}", "gpu-queue"
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": KUEUE,
            "kind": "ResourceFlavor",
            "metadata": {"name": flavor},
            "spec": {"nodeLabels": {"kubetrain.io/pool": "gpu"}},
        },
        {
            "apiVersion": KUEUE,
            "kind": "ClusterQueue",
            "metadata": {"name": cluster_queue},
            "spec": {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": harness.namespace}
                },
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                        "flavors": [
                            {
                                "name": flavor,
                                "resources": [
                                    {"name": "cpu", "nominalQuota": "64"},
                                    {"name": "memory", "nominalQuota": "512Gi"},
                                    {"name": "nvidia.com/gpu", "nominalQuota": str(GPU_QUOTA)},
                                ],
                            }
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": KUEUE,
            "kind": "LocalQueue",
            "metadata": {"name": local_queue, "namespace": harness.namespace},
            "spec": {"clusterQueue": cluster_queue},
        },
    ]
    for obj in objects:
        harness.cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
    wait_for(lambda: _cluster_queue_active(harness, cluster_queue), 30, "ClusterQueue Active")
    yield local_queue
    for kind, name in (("clusterqueue", cluster_queue), ("resourceflavor", flavor)):
        harness.cluster.kubectl("delete", kind, name, "--wait=false", check=False)


def _cluster_queue_active(h: Harness, name: str) -> bool:
    found = h.cluster.kubectl("get", "clusterqueue", name, "-o", "json", check=False)
    if found.returncode:
        return False
    conditions = json.loads(found.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Active" and c["status"] == "True" for c in conditions)


def gpu_job(
    name: str, queue: str, workers: int = WHOLE_QUOTA_WORKERS, **run: Any
) -> dict[str, Any]:
    job = builtin_job(name, "gpu", workers=workers, gpus=2)
    job["spec"]["runPolicy"] = {"queueName": queue, **run}
    return job


def phase(h: Harness, name: str) -> str | None:
    return h.status(name).get("phase")


def queued(h: Harness, name: str) -> dict[str, Any] | None:
    """The job's Queued condition while it is True."""
    conditions = h.status(name).get("conditions", [])
    return next((c for c in conditions if c["type"] == "Queued" and c["status"] == "True"), None)


def gated(h: Harness, name: str) -> bool:
    pods = h.pods(name)
    return bool(pods) and all(
        any(g["name"] == "kueue.x-k8s.io/admission" for g in p["spec"].get("schedulingGates", []))
        for p in pods
    )


def test_two_jobs_for_the_whole_gpu_quota_run_one_after_the_other(
    harness: Harness, queue: str
) -> None:
    harness.operator()
    harness.apply(gpu_job("first", queue))
    wait_for(lambda: phase(harness, "first") == "Running", 90, "the first job Running")
    pods = harness.pods("first")
    assert len(pods) == WHOLE_QUOTA_WORKERS
    assert {p["metadata"]["labels"]["kueue.x-k8s.io/pod-group-name"] for p in pods} == {"first-a1"}
    assert all(p["spec"]["nodeName"].startswith("gpu-") for p in pods)

    harness.apply(gpu_job("second", queue))
    cond = wait_for(lambda: queued(harness, "second"), 60, "the second job Queued")
    assert phase(harness, "second") == "Pending"
    assert cond["reason"] == "WaitingForAdmission"
    assert "Kueue LocalQueue 'gpu-queue'" in cond["message"]
    assert "4 of 4 pod(s) wait for admission" in cond["message"]
    assert gated(harness, "second")
    # Kueue's own reason comes through once it has a Workload for the group.
    cond = wait_for(
        lambda: (c := queued(harness, "second")) and "Kueue:" in c["message"] and c,
        60,
        "Kueue's reason in the Queued condition",
    )
    assert "insufficient unused quota for nvidia.com/gpu" in cond["message"]
    assert "Queued" in harness.events("second")
    assert all("nodeName" not in p["spec"] for p in harness.pods("second"))

    harness.cluster.kubectl("delete", "trainingjob", "first", "-n", harness.namespace)
    wait_for(lambda: phase(harness, "second") == "Running", 120, "the second job admitted")
    admitted = next(c for c in harness.status("second")["conditions"] if c["type"] == "Queued")
    assert (admitted["status"], admitted["reason"]) == ("False", "Admitted")


def test_a_job_bigger_than_the_quota_waits_with_kueues_reason(harness: Harness, queue: str) -> None:
    harness.operator()
    harness.apply(gpu_job("too-big", queue, workers=WHOLE_QUOTA_WORKERS + 1))
    cond = wait_for(
        lambda: (c := queued(harness, "too-big")) and "Kueue:" in c["message"] and c,
        90,
        "Queued with Kueue's reason",
    )
    assert "insufficient quota for nvidia.com/gpu" in cond["message"]
    assert "5 of 5 pod(s) wait for admission" in cond["message"]
    assert phase(harness, "too-big") == "Pending"
    assert harness.status("too-big")["message"] == cond["message"]
    # All or nothing: not one pod of the group holds a node (or GPUs).
    assert gated(harness, "too-big")
    assert all("nodeName" not in p["spec"] for p in harness.pods("too-big"))


def test_priority_class_orders_admission(harness: Harness, queue: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    low, high = f"kt-low-{suffix}", f"kt-high-{suffix}"
    for name, value in ((low, 100), (high, 1000)):
        priority_class = {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
        }
        harness.cluster.kubectl("apply", "-f", "-", input=json.dumps(priority_class))
    try:
        harness.operator()
        harness.apply(gpu_job("blocker", queue))
        wait_for(lambda: phase(harness, "blocker") == "Running", 90, "the blocker Running")
        harness.apply(gpu_job("low", queue, priorityClassName=low))
        wait_for(lambda: queued(harness, "low"), 60, "the low-priority job Queued")
        harness.apply(gpu_job("high", queue, priorityClassName=high))
        wait_for(lambda: queued(harness, "high"), 60, "the high-priority job Queued")
        assert {p["spec"]["priorityClassName"] for p in harness.pods("high")} == {high}

        harness.cluster.kubectl("delete", "trainingjob", "blocker", "-n", harness.namespace)
        wait_for(lambda: phase(harness, "high") == "Running", 120, "the high-priority job admitted")
        assert queued(harness, "low") is not None  # submitted first, still waiting
        assert phase(harness, "low") == "Pending"
    finally:
        for name in (low, high):
            harness.cluster.kubectl("delete", "priorityclass", name, "--wait=false", check=False)


def _dry_run_pod(h: Harness, labels: dict[str, str]) -> Any:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": h.namespace, "labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["true"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    return h.cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False
    )


def test_pods_without_a_queue_never_depend_on_kueue(harness: Harness, kueue_running: None) -> None:
    """With Kueue stopped, unqueued pods are still created; only queued pods are refused."""
    from kubetrain.dev import cluster
    from kubetrain.dev.config import load
    from kubetrain.dev.layout import Layout
    from kubetrain.dev.processes import Supervisor

    config = load(None)
    layout = Layout(config.state_dir)
    Supervisor(layout.run, layout.logs).stop("kueue")
    try:
        plain = _dry_run_pod(harness, {"app": "plain"})
        assert plain.returncode == 0, plain.stderr
        queued_pod = _dry_run_pod(harness, {"kueue.x-k8s.io/queue-name": "gpu-queue"})
        assert queued_pod.returncode != 0
        assert "failed calling webhook" in queued_pod.stderr
    finally:
        config = config.model_copy(
            update={"kueue": config.kueue.model_copy(update={"enabled": True})}
        )
        cluster.up(config)
