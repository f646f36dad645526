"""Bring-your-own code in the cluster: the trainer runs the user's command with the job's
environment, on one pod or as the driver of a 2-pod Ray cluster, and its metrics, or their
absence, or its failure, are what the status shows."""

from __future__ import annotations

from typing import Any

from tests.support.manifests import custom_job, unique
from tests.support.operator_harness import Harness, wait_for

# Runs on the Ray head; reports from a Ray task that runs on the *other* pod, so the record
# reaches the trainer through Ray's log forwarding, prefixed "(report pid=...)".
TWO_NODE_SCRIPT = """
import os, socket, time, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init()
deadline = time.time() + 180
while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.time() < deadline:
    time.sleep(1)
head = ray.get_runtime_context().get_node_id()
other = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeID"] != head)

@ray.remote(num_cpus=0)
def report(nodes):
    from kubetrain_trainer import helper
    import pandas as pd
    frame = helper.load_data()
    helper.report({"accuracy": 0.97, "nodes": nodes, "rows": len(frame)}, epoch=1, total=1)
    return socket.gethostname()

strategy = NodeAffinitySchedulingStrategy(node_id=other, soft=False)
print("reported from", ray.get(report.options(scheduling_strategy=strategy).remote(2)))
"""


def _with_threshold(manifest: dict[str, Any], threshold: float) -> dict[str, Any]:
    manifest["spec"]["problem"]["objective"]["threshold"] = threshold
    return manifest


def _finished(h: Harness, name: str, timeout: float = 420) -> dict[str, Any]:
    wait_for(
        lambda: h.status(name).get("phase") in ("Succeeded", "Failed"), timeout, f"{name} to end"
    )
    status = h.status(name)
    if status["phase"] == "Failed":  # what a user would look at next: the pods' logs
        for pod in h.pods(name):
            logs = h.cluster.kubectl(
                "logs", pod["metadata"]["name"], "-n", h.namespace, "--tail=25", check=False
            )
            print(f"--- {pod['metadata']['name']}\n{logs.stdout}{logs.stderr}")
    return status


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_custom_code_on_two_ray_workers_reports_from_the_other_pod(harness: Harness) -> None:
    harness.operator()
    name = unique("byo-ray")
    manifest = _with_threshold(custom_job(name, TWO_NODE_SCRIPT), 0.9)
    manifest["spec"]["compute"]["workers"] = 2
    harness.apply(manifest)
    status = _finished(harness, name)
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["successCriteriaMet"] is True
    assert status["bestMetric"] == {"name": "accuracy", "value": 0.97}
    assert status["bestMetrics"]["nodes"] == 2.0
    assert status["bestMetrics"]["rows"] == 150.0  # helper.load_data() got the job's iris data
    assert _condition(status, "SuccessCriteriaMet")["reason"] == "ThresholdMet"


def test_custom_code_without_metrics_has_no_verdict(harness: Harness) -> None:
    harness.operator()
    name = unique("byo-silent")
    harness.apply(_with_threshold(custom_job(name, "print('trained, but said nothing')"), 0.9))
    status = _finished(harness, name)
    assert status["phase"] == "Succeeded", status.get("message")
    assert "successCriteriaMet" not in status
    verdict = _condition(status, "SuccessCriteriaMet")
    assert (verdict["status"], verdict["reason"]) == ("Unknown", "NoMetrics")


def test_failing_custom_code_shows_its_last_stderr_lines(harness: Harness) -> None:
    harness.operator()
    name = unique("byo-broken")
    script = (
        "import sys; print('loading', file=sys.stderr); "
        "print('KeyError: column price', file=sys.stderr); sys.exit(3)"
    )
    harness.apply(custom_job(name, script, backoffLimit=0))
    status = _finished(harness, name)
    assert status["phase"] == "Failed"
    failed = _condition(status, "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert "your command exited with code 3" in failed["message"]
    assert "KeyError: column price" in failed["message"]
