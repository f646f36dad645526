"""The operator's lifecycle paths against the dev cluster: kwok pools for placement, the
local node for pods that really run, the real API server for everything else."""

from __future__ import annotations

import random
import textwrap
import time
from typing import Any

import pytest
from tests.support.manifests import builtin_job, custom_job, unique
from tests.support.operator_harness import Harness, wait_for


def phase(h: Harness, name: str) -> str | None:
    return h.status(name).get("phase")


def condition(h: Harness, name: str, kind: str) -> dict[str, Any] | None:
    return next((c for c in h.status(name).get("conditions", []) if c["type"] == kind), None)


def test_gpu_job_lands_on_the_gpu_pool(harness: Harness) -> None:
    harness.operator()
    harness.apply(builtin_job("gpu-job", "gpu", gpus=2))
    wait_for(lambda: phase(harness, "gpu-job") == "Running", 60, "Running")
    [pod] = harness.pods("gpu-job")
    node = harness.cluster.kubectl(
        "get",
        "node",
        pod["spec"]["nodeName"],
        "-o",
        "jsonpath={.metadata.labels.kubetrain\\.io/pool}",
    ).stdout
    assert node == "gpu"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    scheduled = condition(harness, "gpu-job", "Scheduled")
    assert scheduled is not None and scheduled["status"] == "True"


def test_impossible_gpu_request_reports_unschedulable(harness: Harness) -> None:
    harness.operator()
    harness.apply(builtin_job("too-big", "gpu-xl", gpus=16))
    cond = wait_for(
        lambda: (c := condition(harness, "too-big", "Scheduled")) and c["status"] == "False" and c,
        60,
        "Scheduled=False",
    )
    assert cond["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in cond["message"]
    assert phase(harness, "too-big") == "Pending"


def test_partial_gang_is_released_after_the_timeout(harness: Harness) -> None:
    harness.operator()
    harness.apply(builtin_job("gang", "gpu-xl", workers=2, gpus=16))
    cond = wait_for(
        lambda: (
            (c := condition(harness, "gang", "Scheduled"))
            and c["reason"] == "GangSchedulingTimeout"
            and c
        ),
        90,
        "GangSchedulingTimeout",
    )
    assert cond["status"] == "False"
    assert "released them" in cond["message"]
    wait_for(lambda: harness.pods("gang") == [], 30, "the pods to be released")
    assert phase(harness, "gang") == "Pending"
    assert "GangSchedulingTimeout" in harness.events("gang")


def test_invalid_spec_fails_with_every_problem(harness: Harness) -> None:
    harness.operator()
    job = builtin_job("bad-profile", "no-such-profile")
    job["spec"]["model"]["builtin"]["hyperparameters"] = {"no_such_knob": 1}
    harness.apply(job)
    wait_for(lambda: phase(harness, "bad-profile") == "Failed", 30, "Failed")
    failed = condition(harness, "bad-profile", "Failed")
    assert failed is not None and failed["reason"] == "InvalidSpec"
    assert "spec.compute.profile" in failed["message"]
    assert "no_such_knob" in failed["message"]
    assert harness.pods("bad-profile") == []


def test_failed_pod_leads_to_a_new_attempt(harness: Harness) -> None:
    harness.operator()
    script = (
        "import os, sys; attempt = os.environ['KUBETRAIN_ATTEMPT']; print('attempt', attempt);"
        " sys.exit(1 if attempt == '1' else 0)"
    )
    harness.apply(custom_job("flaky", script, backoffLimit=2))
    wait_for(lambda: phase(harness, "flaky") == "Succeeded", 90, "Succeeded")
    status = harness.status("flaky")
    assert status["attempt"] == 2
    assert status["failedAttempts"] == 1
    assert "AttemptFailed" in harness.events("flaky")
    # The failed attempt's pod is kept for its logs; its successor ran.
    names = sorted(p["metadata"]["name"] for p in harness.pods("flaky"))
    assert names == ["flaky-a1-trainer", "flaky-a2-trainer"]


def test_backoff_limit_exceeded(harness: Harness) -> None:
    harness.operator()
    harness.apply(custom_job("doomed", "import sys; sys.exit(7)", backoffLimit=1))
    wait_for(lambda: phase(harness, "doomed") == "Failed", 90, "Failed")
    failed = condition(harness, "doomed", "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert "your command exited with code 7" in failed["message"]
    assert harness.status("doomed")["attempt"] == 2


def test_active_deadline_stops_the_job(harness: Harness) -> None:
    harness.operator()
    harness.apply(custom_job("slow", "import time; time.sleep(600)", activeDeadlineSeconds=8))
    wait_for(lambda: phase(harness, "slow") == "Failed", 60, "Failed")
    failed = condition(harness, "slow", "Failed")
    assert failed is not None and failed["reason"] == "DeadlineExceeded"
    wait_for(lambda: harness.pods("slow") == [], 40, "the pod to be deleted")


def test_ttl_deletes_a_finished_job_even_across_an_operator_restart(harness: Harness) -> None:
    op = harness.operator()
    harness.apply(custom_job("short-lived", "print('done')", ttlSecondsAfterFinished=12))
    wait_for(lambda: phase(harness, "short-lived") == "Succeeded", 60, "Succeeded")
    op.kill()
    time.sleep(2)
    harness.operator()
    wait_for(lambda: not harness.job("short-lived"), 40, "the job to be deleted")


SUSPENDABLE = textwrap.dedent(
    """
    import os, signal, sys, time, boto3
    s3 = boto3.client("s3", endpoint_url=os.environ["KUBETRAIN_S3_ENDPOINT"])
    bucket = os.environ["KUBETRAIN_OUTPUT_URI"].removeprefix("s3://")
    key = f"{os.environ['KUBETRAIN_NAMESPACE']}/{os.environ['KUBETRAIN_JOB_NAME']}/checkpoint"
    try:
        step = int(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        print("resumed from step", step, flush=True)
    except s3.exceptions.NoSuchKey:
        step = 0
    def on_term(*_):
        s3.put_object(Bucket=bucket, Key=key, Body=str(step).encode())
        print("checkpointed step", step, flush=True)
        sys.exit(143)
    signal.signal(signal.SIGTERM, on_term)
    if step:
        sys.exit(0)
    while True:
        step += 1
        time.sleep(0.2)
    """
)


def test_suspend_checkpoints_and_resume_continues(harness: Harness) -> None:
    harness.operator()
    harness.apply(custom_job("pausable", SUSPENDABLE))
    wait_for(lambda: phase(harness, "pausable") == "Running", 60, "Running")
    time.sleep(2)
    harness.patch_spec("pausable", {"runPolicy": {"suspend": True}})
    wait_for(lambda: phase(harness, "pausable") == "Suspended", 30, "Suspended")
    wait_for(
        lambda: not any(p["status"].get("phase") == "Running" for p in harness.pods("pausable")),
        40,
        "the pod to stop",
    )
    s3 = harness.cluster.s3.client()
    key = f"{harness.namespace}/pausable/checkpoint"
    step = int(s3.get_object(Bucket=harness.cluster.s3.bucket, Key=key)["Body"].read())
    assert step > 0, "the trainer got SIGTERM and checkpointed"
    harness.patch_spec("pausable", {"runPolicy": {"suspend": False}})
    wait_for(lambda: phase(harness, "pausable") == "Succeeded", 60, "Succeeded after resume")
    status = harness.status("pausable")
    assert status["attempt"] == 2
    assert "failedAttempts" not in status
    logs = harness.cluster.kubectl("logs", "pausable-a2-trainer", "-n", harness.namespace).stdout
    assert f"resumed from step {step}" in logs


def test_deleting_a_job_deletes_every_child(harness: Harness) -> None:
    harness.operator()
    harness.apply(builtin_job("ray-kwok", "cpu-general", workers=3))
    wait_for(lambda: phase(harness, "ray-kwok") == "Running", 60, "Running")
    selector = ("-l", "kubetrain.io/job-name=ray-kwok")
    assert len(harness.get("pods", None, *selector)["items"]) == 3
    assert len(harness.get("services", None, *selector)["items"]) == 1
    assert len(harness.get("secrets", None, *selector)["items"]) == 1
    assert len(harness.get("configmaps", None, *selector)["items"]) == 1
    [policy] = harness.get("networkpolicies", None, *selector)["items"]
    assert policy["spec"]["podSelector"] == {"matchLabels": {"kubetrain.io/job-name": "ray-kwok"}}
    harness.cluster.kubectl("delete", "trainingjob", "ray-kwok", "-n", harness.namespace)

    def children() -> int:
        return sum(
            len(harness.get(kind, None, *selector)["items"])
            for kind in ("pods", "services", "secrets", "configmaps", "networkpolicies")
        )

    wait_for(lambda: children() == 0, 60, "garbage collection of every child")


def test_operator_killed_mid_reconcile_leaves_no_duplicate_or_orphan(harness: Harness) -> None:
    rng = random.Random(7)
    names = [unique("gang") for _ in range(2)]
    for name in names:
        harness.apply(builtin_job(name, "cpu-general", workers=3))
    for _ in range(5):
        op = harness.operator()
        time.sleep(rng.uniform(1.0, 3.5))  # python start-up, then somewhere in a reconcile
        op.kill()
    harness.operator()
    for name in names:

        def running(name: str = name) -> bool:
            return phase(harness, name) == "Running"

        wait_for(running, 60, f"{name} Running")
        pods = sorted(p["metadata"]["name"] for p in harness.pods(name))
        assert pods == [f"{name}-a1-head", f"{name}-a1-worker-0", f"{name}-a1-worker-1"]
        assert harness.status(name)["attempt"] == 1
        assert all(p["metadata"]["ownerReferences"][0]["name"] == name for p in harness.pods(name))


def test_a_second_replica_takes_over_when_the_leader_dies(harness: Harness) -> None:
    lease = unique("lease")
    leader = harness.operator(lease=lease)
    harness.apply(custom_job("before", "print('one')"))
    wait_for(lambda: phase(harness, "before") == "Succeeded", 60, "the leader to act")
    standby = harness.operator(lease=lease)
    time.sleep(3)
    leader.kill()
    harness.apply(custom_job("after", "print('two')"))
    wait_for(lambda: phase(harness, "after") == "Succeeded", 90, "the standby to take over")
    assert standby.proc is not None and standby.proc.poll() is None


@pytest.mark.parametrize(
    "metric",
    ["kubetrain_jobs", "kubetrain_reconcile_duration_seconds", "kubetrain_workqueue_depth"],
)
def test_metrics_are_served(harness: Harness, metric: str) -> None:
    import urllib.request

    op = harness.operator()
    harness.apply(custom_job("measured", "print('hi')"))
    wait_for(lambda: phase(harness, "measured") == "Succeeded", 60, "Succeeded")
    body = urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics").read().decode()
    assert metric in body
    if metric == "kubetrain_jobs":
        assert 'kubetrain_jobs{phase="Succeeded"} 1.0' in body
    if metric == "kubetrain_workqueue_depth":  # nothing waits once the job has finished
        assert "kubetrain_workqueue_depth 0.0" in body


def test_a_store_the_operator_cannot_read_is_a_condition_and_a_warning(harness: Harness) -> None:
    """The job's output store names a Secret with keys the store refuses: the operator says
    so while the job runs, and guesses no verdict."""
    wrong = {"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong"}
    harness.cluster.kubectl(
        "create", "secret", "generic", "wrong-keys", "-n", harness.namespace,
        *(f"--from-literal={k}={v}" for k, v in wrong.items()),
    )  # fmt: skip
    harness.operator()
    manifest = custom_job("unreadable", "import time; time.sleep(30)")
    manifest["spec"]["output"] = {
        "uri": f"s3://{harness.cluster.s3.bucket}",
        "s3": {
            "endpoint": harness.cluster.s3.endpoint,
            "credentialsSecret": {"name": "wrong-keys"},
        },
    }
    harness.apply(manifest)
    readable = wait_for(
        lambda: condition(harness, "unreadable", "ArtifactStoreReadable"), 120, "the store check"
    )
    assert readable["status"] == "False" and readable["reason"] == "StoreUnreadable"
    assert "StoreUnreadable" in harness.events("unreadable")
    final = wait_for(
        lambda: harness.status("unreadable").get("phase") in ("Succeeded", "Failed"), 180, "end"
    )
    assert final
    assert harness.status("unreadable").get("successCriteriaMet") is None
