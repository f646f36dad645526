"""Kueue admission without a cluster: the pod group labels, the Queued path of the state
machine, Kueue's reason read from its Workload, and the queue named on the job."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from kubetrain.api import ComputeProfile, TrainingJob, check_training_job, queue_name_of
from kubetrain.builders import pods
from kubetrain.builders.naming import JobRef
from kubetrain.config import OperatorConfig
from kubetrain.observe import PodView, pod_view, workload_pending_message
from kubetrain.state import Decision, Policy, Snapshot, decide

EXAMPLES = Path(__file__).parents[3] / "examples"
REF = JobRef("ray", "team-a", "uid-1")
CONFIG = OperatorConfig()
NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
PENDING = {"phase": "Pending", "attempt": 1, "startTime": "2026-01-01T11:00:00Z"}
KUEUE_SAYS = (
    "couldn't assign flavors to pod set 6f1b1b3a: insufficient quota for nvidia.com/gpu in "
    "flavor gpu, previously considered podsets requests (0) + current podset request (16) > "
    "maximum capacity (8)"
)


def manifest(name: str = "multi-worker.yaml", **run_policy: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    raw["spec"].setdefault("runPolicy", {}).update(run_policy)
    return raw


def attempt_pods(raw: dict[str, Any], attempt: int = 2) -> list[dict[str, Any]]:
    job = TrainingJob.model_validate(raw)
    return pods.attempt_pods(REF, job.spec, attempt, CONFIG, queue_name_of(raw))


def test_queued_job_pods_form_one_kueue_pod_group_per_attempt() -> None:
    built = attempt_pods(manifest(queueName="gpu-queue"))
    assert len(built) == 3  # head and two workers
    for pod in built:
        labels, annotations = pod["metadata"]["labels"], pod["metadata"]["annotations"]
        assert labels["kueue.x-k8s.io/queue-name"] == "gpu-queue"
        assert labels["kueue.x-k8s.io/pod-group-name"] == "ray-a2"
        assert labels["kubetrain.io/attempt"] == "2"
        assert annotations["kueue.x-k8s.io/pod-group-total-count"] == "3"
        assert annotations["kueue.x-k8s.io/retriable-in-group"] == "false"
    again = attempt_pods(manifest(queueName="gpu-queue"), attempt=3)
    assert {p["metadata"]["labels"]["kueue.x-k8s.io/pod-group-name"] for p in again} == {"ray-a3"}


def test_queue_label_on_the_job_queues_it_too() -> None:
    raw = manifest("classification-iris.yaml")
    raw["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "cpu-queue"}
    [pod] = attempt_pods(raw)
    assert pod["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "cpu-queue"
    assert pod["metadata"]["annotations"]["kueue.x-k8s.io/pod-group-total-count"] == "1"


def test_unqueued_job_pods_carry_nothing_of_kueue() -> None:
    for pod in attempt_pods(manifest()):
        assert not any(k.startswith("kueue.x-k8s.io/") for k in pod["metadata"]["labels"])
        assert "annotations" not in pod["metadata"]
        assert "priorityClassName" not in pod["spec"]


def test_priority_class_passes_through_to_every_pod() -> None:
    built = attempt_pods(manifest(queueName="q", priorityClassName="training-high"))
    assert {p["spec"]["priorityClassName"] for p in built} == {"training-high"}


def test_queue_label_and_spec_must_agree() -> None:
    raw = manifest("classification-iris.yaml", queueName="a")
    raw["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "b"}
    profiles = {
        "cpu-general": ComputeProfile(name="cpu-general", resources={"cpu": 1, "memory": "1Gi"})
    }
    _, errors = check_training_job(raw, profiles, "cpu-general")
    assert [str(e) for e in errors] == [
        "spec.runPolicy.queueName: is 'a' but the label kueue.x-k8s.io/queue-name says 'b'; set one"
    ]


def gated_pod(name: str = "ray-a1-head") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"kubetrain.io/role": "head", "kubetrain.io/attempt": "1",
                       "kueue.x-k8s.io/queue-name": "gpu-queue"},
        },
        "spec": {"schedulingGates": [{"name": "kueue.x-k8s.io/admission"}]},
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
            ],
        },
    }  # fmt: skip


def test_a_gated_pod_is_seen_as_queued_not_unschedulable() -> None:
    view = pod_view(gated_pod())
    assert view.queued and view.queue == "gpu-queue"
    assert view.unschedulable is None
    admitted = gated_pod()
    admitted["spec"]["schedulingGates"] = []
    assert not pod_view(admitted).queued


def test_kueues_reason_is_read_from_the_workload() -> None:
    workload = {"status": {"conditions": [
        {"type": "QuotaReserved", "status": "False", "reason": "Pending", "message": KUEUE_SAYS},
    ]}}  # fmt: skip
    assert workload_pending_message(workload) == KUEUE_SAYS
    assert workload_pending_message(None) == ""
    reserved = {"status": {"conditions": [{"type": "QuotaReserved", "status": "True"}]}}
    assert workload_pending_message(reserved) == ""


def queued_view(name: str, created: dt.datetime | None = None, queued: bool = True) -> PodView:
    return PodView(
        name=name, role="head" if name.endswith("head") else "worker", attempt=1,
        phase="Pending", queue="gpu-queue", queued=queued, created=created,
    )  # fmt: skip


def decide_queued(status: dict[str, Any], views: list[PodView], message: str = "") -> Decision:
    snap = Snapshot(
        generation=1,
        status=status,
        policy=Policy(workers=2, queue_name="gpu-queue"),
        queue_message=message,
    )
    return decide(snap, views, None, NOW, gang_timeout_seconds=60)


def condition(d: Decision, kind: str) -> dict[str, Any]:
    return next(c for c in d.status["conditions"] if c["type"] == kind)


def test_waiting_for_kueue_is_pending_with_the_queued_condition_and_kueues_reason() -> None:
    views = [queued_view("ray-a1-head"), queued_view("ray-a1-worker-0")]
    d = decide_queued(PENDING, views, KUEUE_SAYS)
    assert d.status["phase"] == "Pending"
    queued = condition(d, "Queued")
    assert (queued["status"], queued["reason"]) == ("True", "WaitingForAdmission")
    assert "Kueue LocalQueue 'gpu-queue'" in queued["message"]
    assert "2 of 2 pod(s) wait for admission" in queued["message"]
    assert KUEUE_SAYS in queued["message"] and KUEUE_SAYS in d.status["message"]
    assert [e.reason for e in d.events] == ["Queued"]
    again = decide_queued(d.status, views, KUEUE_SAYS)
    assert again.events == [] and again.status == d.status


def test_a_long_queue_never_triggers_the_operators_gang_release() -> None:
    long_ago = NOW - dt.timedelta(hours=2)
    views = [queued_view("ray-a1-head", long_ago), queued_view("ray-a1-worker-0", long_ago)]
    d = decide_queued(PENDING, views)
    assert d.delete_attempt is None
    assert "Scheduled" not in {c["type"] for c in d.status["conditions"]}
    # Admitted, then briefly unschedulable: Kueue owns the gang, the operator releases nothing.
    admitted = [
        PodView(name="ray-a1-head", role="head", attempt=1, phase="Running", scheduled=True,
                created=long_ago, queue="gpu-queue"),
        PodView(name="ray-a1-worker-0", role="worker", attempt=1, phase="Pending",
                unschedulable="0/6 nodes are available", created=long_ago, queue="gpu-queue"),
    ]  # fmt: skip
    later = decide_queued(d.status, admitted)
    assert later.delete_attempt is None
    assert condition(later, "Scheduled")["reason"] == "Unschedulable"


def test_admission_turns_queued_false_and_the_job_runs() -> None:
    waiting = decide_queued(PENDING, [queued_view("ray-a1-head"), queued_view("ray-a1-worker-0")])
    running = [
        PodView(name=n, role=r, attempt=1, phase="Running", scheduled=True, queue="gpu-queue")
        for n, r in (("ray-a1-head", "head"), ("ray-a1-worker-0", "worker"))
    ]
    d = decide_queued(waiting.status, running)
    assert d.status["phase"] == "Running"
    queued = condition(d, "Queued")
    assert (queued["status"], queued["reason"]) == ("False", "Admitted")
