"""The Reconciler against an in-memory `Kube`: what the operator writes, and in which order.

The state machine and the builders are the real ones; only the API server is replaced (by
tests/support/fake_kube.py), so these tests pin the reconciler's own promises: status first,
then children; no write when nothing changed; attempts deleted; finished jobs deleted after
their TTL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.support.examples import example
from tests.support.fake_kube import FakeKube, NoReports

from kubetrain.api import Phase
from kubetrain.builders.naming import JobRef
from kubetrain.config import OperatorConfig
from kubetrain.handlers.reconcile import Reconciler

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
NAMESPACE = "team-a"


class Clock:
    """The reconciler's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reconciler(kube: FakeKube, clock: Clock) -> Reconciler:
    return Reconciler(kube, OperatorConfig(), reports=NoReports(), clock=clock)


def iris(kube: FakeKube, **run_policy: object) -> JobRef:
    manifest = example("classification-iris")
    manifest["spec"]["runPolicy"] = run_policy
    return kube.add_job(manifest, NAMESPACE, "uid-1")


def test_a_new_job_gets_its_status_first_then_its_attempt(
    kube: FakeKube, reconciler: Reconciler
) -> None:
    job = iris(kube)
    reconciler.reconcile(job.namespace, job.name)

    status = (kube.job(job) or {})["status"]
    assert (status["phase"], status["attempt"]) == (Phase.PENDING, 1)
    assert kube.writes == [
        ("patch_status", "Pending"),
        ("apply_configmap", "iris-forest-spec"),
        ("create_pod", "iris-forest-a1-trainer"),
    ]
    pod = kube.objects[("Pod", NAMESPACE, "iris-forest-a1-trainer")]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert [reason for reason, _ in kube.events] == ["AttemptCreated"]


def test_status_is_patched_only_when_it_changes(kube: FakeKube, reconciler: Reconciler) -> None:
    job = iris(kube)
    reconciler.reconcile(job.namespace, job.name)
    kube.writes.clear()

    reconciler.reconcile(job.namespace, job.name)
    assert kube.writes == []  # same status, children exist

    kube.set_pod_status(
        NAMESPACE,
        "iris-forest-a1-trainer",
        {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}]},
    )
    reconciler.reconcile(job.namespace, job.name)
    assert ("patch_status", "Running") in kube.writes


def test_suspending_deletes_the_running_attempt(kube: FakeKube, reconciler: Reconciler) -> None:
    job = iris(kube)
    reconciler.reconcile(job.namespace, job.name)
    stored = kube.job(job) or {}
    stored["spec"]["runPolicy"] = {"suspend": True}
    stored["metadata"]["generation"] = 2
    kube.writes.clear()

    reconciler.reconcile(job.namespace, job.name)

    assert kube.writes[0] == ("patch_status", "Suspended")
    assert ("delete_pods", "attempt 1") in kube.writes
    assert kube.names("Pod") == []
    assert (kube.job(job) or {})["status"]["phase"] == Phase.SUSPENDED


def test_a_finished_job_is_deleted_once_its_ttl_has_passed(
    kube: FakeKube, reconciler: Reconciler, clock: Clock
) -> None:
    job = iris(kube, ttlSecondsAfterFinished=60)
    stored = kube.job(job) or {}
    stored["status"] = {
        "phase": "Succeeded",
        "attempt": 1,
        "completionTime": "2026-01-01T12:00:00Z",
    }

    clock.now = NOW + dt.timedelta(seconds=30)
    reconciler.reconcile(job.namespace, job.name)
    assert kube.job(job) is not None
    assert (job.namespace, job.name) in reconciler.due  # comes back when the TTL is up

    clock.now = NOW + dt.timedelta(seconds=61)
    reconciler.reconcile(job.namespace, job.name)
    assert kube.job(job) is None
    assert ("delete_job", "iris-forest") in kube.writes
    assert (job.namespace, job.name) not in reconciler.due


def test_a_finished_job_stops_its_running_pod_when_a_pod_event_shows_it(
    kube: FakeKube, reconciler: Reconciler
) -> None:
    # The operator wrote "Failed" and died before it stopped the attempt's pod.
    job = iris(kube)
    reconciler.reconcile(job.namespace, job.name)
    kube.set_pod_status(NAMESPACE, "iris-forest-a1-trainer", {"phase": "Running"})
    stored = kube.job(job) or {}
    stored["status"] = {**stored["status"], "phase": "Failed"}
    kube.writes.clear()
    listed: list[JobRef] = []
    read = kube.job_pods

    def job_pods(job: JobRef) -> list[dict[str, Any]]:
        listed.append(job)
        return read(job)

    kube.job_pods = job_pods  # type: ignore[method-assign]

    # Its own event (a restart's listing): a finished job's pods are not read.
    reconciler.reconcile(job.namespace, job.name, active_pod=False)
    assert listed == []
    assert ("delete_pods", "attempt 1") not in kube.writes
    # The pod's event shows it still running: it is stopped.
    reconciler.reconcile(job.namespace, job.name, active_pod=True)
    assert len(listed) == 1
    assert ("delete_pods", "attempt 1") in kube.writes
    assert kube.names("Pod") == []


def _unschedulable(kube: FakeKube, message: str) -> None:
    kube.set_pod_status(NAMESPACE, "iris-forest-a1-trainer", {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": message}]})  # fmt: skip


def test_a_message_whose_numbers_alone_change_is_written_at_most_every_30_s(
    kube: FakeKube, reconciler: Reconciler, clock: Clock
) -> None:
    """The scheduler rewrites its message as nodes come and go; each version is no news."""
    job = iris(kube)
    reconciler.reconcile(job.namespace, job.name)
    _unschedulable(kube, "0/1006 nodes are available: 913 node(s) had untolerated taint(s).")
    reconciler.reconcile(job.namespace, job.name)
    kube.writes.clear()

    for seconds, untolerated in ((5, 912), (10, 905), (20, 875)):
        clock.now = NOW + dt.timedelta(seconds=seconds)
        _unschedulable(kube, f"0/1006 nodes are available: {untolerated} node(s) had "
                             "untolerated taint(s).")  # fmt: skip
        reconciler.reconcile(job.namespace, job.name)
    assert kube.writes == []

    clock.now = NOW + dt.timedelta(seconds=31)
    reconciler.reconcile(job.namespace, job.name)
    assert kube.writes == [("patch_status", "Pending")]
    assert "875 node(s)" in (kube.job(job) or {})["status"]["message"]

    kube.writes.clear()  # a new kind of message is news at once
    clock.now = NOW + dt.timedelta(seconds=32)
    _unschedulable(kube, "0/1006 nodes are available: 3 Insufficient nvidia.com/gpu.")
    reconciler.reconcile(job.namespace, job.name)
    assert kube.writes == [("patch_status", "Pending")]
