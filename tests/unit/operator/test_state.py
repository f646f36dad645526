"""The state machine, path by path: what phase, conditions, events and actions follow."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubetrain.api.contract import ObjectiveResult
from kubetrain.observe import PodView
from kubetrain.state import Decision, Policy, Snapshot, TrainerReport, decide

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
T0 = "2026-01-01T11:59:00Z"


def snap(
    status: dict[str, Any] | None = None, errors: tuple[str, ...] = (), **policy: Any
) -> Snapshot:
    return Snapshot(
        generation=3,
        status=status or {},
        policy=Policy(**policy),
        spec_errors=errors,
        artifact_uri_of=lambda n: f"s3://kubetrain/ns/job/{n}/",
    )


def pod(role: str = "trainer", phase: str = "Running", **kw: Any) -> PodView:
    return PodView(name=f"job-a1-{role}", role=role, attempt=1, phase=phase, scheduled=True, **kw)


def conditions(d: Decision) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in d.status["conditions"]}


def run(
    status: dict[str, Any], pods: list[PodView], report: TrainerReport | None = None, **policy: Any
) -> Decision:
    return decide(snap(status, **policy), pods, report, NOW, gang_timeout_seconds=60)


def test_new_job_starts_attempt_one() -> None:
    d = run({}, [])
    assert d.status["phase"] == "Pending"
    assert d.status["attempt"] == 1
    assert d.status["startTime"] == "2026-01-01T12:00:00Z"
    assert d.create_attempt == 1
    assert [e.reason for e in d.events] == ["AttemptCreated"]
    assert all(c["observedGeneration"] == 3 for c in d.status["conditions"])


def test_invalid_spec_fails_once_with_every_problem_and_no_retry() -> None:
    d = decide(snap({}, errors=("spec.a: bad", "spec.b: worse")), [], None, NOW, 60)
    assert d.status["phase"] == "Failed"
    assert conditions(d)["Failed"] == ("True", "InvalidSpec")
    assert "spec.a: bad; spec.b: worse" in d.status["message"]
    assert d.create_attempt is None
    again = decide(snap(d.status, errors=("spec.a: bad",)), [], None, NOW, 60)
    assert again.status == d.status and again.events == []


def test_all_pods_running_is_running_and_progress_is_copied() -> None:
    report = TrainerReport(
        progress={"completed": 3, "total": 10, "unit": "epochs", "summary": "3/10 epochs"},
        best_metric={"name": "accuracy", "value": 0.8},
    )
    d = run({"phase": "Pending", "attempt": 1, "startTime": T0}, [pod()], report)
    assert d.status["phase"] == "Running"
    assert d.status["progress"]["summary"] == "3/10 epochs"
    assert d.status["bestMetric"] == {"name": "accuracy", "value": 0.8}
    assert conditions(d)["Running"] == ("True", "Training")


def test_driver_success_with_met_threshold_succeeds_and_records_artifacts() -> None:
    objective = ObjectiveResult(metric="accuracy", value=0.95, threshold=0.9)
    report = TrainerReport(objective=objective, final=True)
    done = pod(phase="Succeeded", exit_code=0)
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [done], report)
    assert d.status["phase"] == "Succeeded"
    assert d.status["successCriteriaMet"] is True
    assert d.status["artifactUri"] == "s3://kubetrain/ns/job/1/"
    assert d.status["completionTime"] == "2026-01-01T12:00:00Z"
    assert conditions(d)["Succeeded"] == ("True", "SuccessCriteriaMet")
    assert conditions(d)["SuccessCriteriaMet"] == ("True", "ThresholdMet")


def test_missed_threshold_fails_with_success_criteria_not_met() -> None:
    objective = ObjectiveResult(metric="rmse", value=9, threshold=5, direction="minimize")
    report = TrainerReport(objective=objective, final=True)
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [pod(phase="Succeeded")], report)
    assert d.status["phase"] == "Failed"
    assert conditions(d)["Failed"] == ("True", "SuccessCriteriaNotMet")
    assert d.status["successCriteriaMet"] is False
    assert "rmse = 9 on held-out data, threshold <= 5: NOT met" in d.status["message"]


def test_success_without_metrics_is_succeeded_with_an_unknown_verdict() -> None:
    report = TrainerReport(final=True, metrics_missing=True)
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [pod(phase="Succeeded")], report)
    assert d.status["phase"] == "Succeeded"
    assert "successCriteriaMet" not in d.status
    assert conditions(d)["SuccessCriteriaMet"] == ("Unknown", "NoMetrics")
    assert conditions(d)["Succeeded"] == ("True", "TrainingCompleted")


def test_an_unreadable_store_is_a_condition_and_one_warning() -> None:
    report = TrainerReport(progress=None, store_error="cannot read Secret ns/s3: 403 Forbidden")
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [pod()], report)
    assert conditions(d)["ArtifactStoreReadable"] == ("False", "StoreUnreadable")
    assert [e.reason for e in d.events] == ["StoreUnreadable"]
    again = run(d.status, [pod()], report)
    assert again.events == []


def test_health_findings_become_a_condition_and_a_warning_each() -> None:
    first = TrainerReport(health=(("Overfitting", "train 0.99 vs validation 0.7"),))
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [pod()], first)
    assert conditions(d)["TrainingHealthy"] == ("False", "Overfitting")
    assert [(e.type, e.reason) for e in d.events] == [("Warning", "Overfitting")]
    both = TrainerReport(health=(*first.health, ("NanLoss", "loss became NaN at epoch 3")))
    d2 = run(d.status, [pod()], both)
    assert conditions(d2)["TrainingHealthy"] == ("False", "Overfitting,NanLoss")
    assert [e.reason for e in d2.events] == ["NanLoss"]


def test_failed_pod_starts_a_new_attempt_until_the_backoff_limit() -> None:
    failed = pod(phase="Failed", exit_code=1, termination_message="boom")
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [failed], backoff_limit=1)
    assert d.status["phase"] == "Pending"
    assert d.status["attempt"] == 2
    assert d.status["failedAttempts"] == 1
    assert (d.delete_attempt, d.create_attempt) == (1, 2)
    assert "boom" in conditions_message(d, "Running")
    second = run(
        {**d.status, "phase": "Running"},
        [failed.__class__(**{**failed.__dict__, "attempt": 2})],
        backoff_limit=1,
    )
    assert second.status["phase"] == "Failed"
    assert conditions(second)["Failed"] == ("True", "BackoffLimitExceeded")
    assert second.create_attempt is None


def conditions_message(d: Decision, kind: str) -> str:
    message: str = next(c["message"] for c in d.status["conditions"] if c["type"] == kind)
    return message


def test_oom_killed_is_named_and_retried() -> None:
    oom = pod(phase="Failed", exit_code=137, terminated_reason="OOMKilled")
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [oom])
    assert conditions(d)["Running"] == ("False", "OOMKilled")
    assert d.create_attempt == 2


@pytest.mark.parametrize("code", [2, 3])
def test_trainer_permanent_errors_are_not_retried(code: int) -> None:
    bad = pod(phase="Failed", exit_code=code, termination_message="no column 'y'")
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [bad], backoff_limit=5)
    assert d.status["phase"] == "Failed"
    assert conditions(d)["Failed"] == ("True", "TrainerError")
    assert "no column 'y'" in d.status["message"]
    assert d.create_attempt is None


def test_deadline_exceeded_stops_the_pods() -> None:
    d = run(
        {"phase": "Running", "attempt": 1, "startTime": T0}, [pod()], active_deadline_seconds=30
    )
    assert d.status["phase"] == "Failed"
    assert conditions(d)["Failed"] == ("True", "DeadlineExceeded")
    assert d.delete_attempt == 1


def test_deadline_not_yet_reached_requeues_for_it() -> None:
    d = run(
        {"phase": "Running", "attempt": 1, "startTime": T0}, [pod()], active_deadline_seconds=90
    )
    assert d.requeue_after == pytest.approx(30)


def test_suspend_stops_pods_and_resume_starts_a_new_attempt() -> None:
    d = run({"phase": "Running", "attempt": 1, "startTime": T0}, [pod()], suspend=True)
    assert d.status["phase"] == "Suspended"
    assert d.delete_attempt == 1
    assert conditions(d)["Suspended"] == ("True", "Suspended")
    resumed = run(d.status, [], suspend=False)
    assert resumed.status["phase"] == "Pending"
    assert resumed.create_attempt == 2
    assert conditions(resumed)["Suspended"] == ("False", "Resumed")
    assert "failedAttempts" not in resumed.status


def test_created_suspended_job_never_starts() -> None:
    d = run({}, [], suspend=True)
    assert d.status["phase"] == "Suspended"
    assert d.create_attempt is None


def test_unschedulable_pod_reports_the_schedulers_message() -> None:
    stuck = PodView(
        name="job-a1-trainer",
        role="trainer",
        attempt=1,
        phase="Pending",
        unschedulable="0/6 nodes are available: 2 Insufficient nvidia.com/gpu.",
    )
    d = run({"phase": "Pending", "attempt": 1, "startTime": T0}, [stuck])
    assert d.status["phase"] == "Pending"
    status, reason = conditions(d)["Scheduled"]
    assert (status, reason) == ("False", "Unschedulable")
    assert "Insufficient nvidia.com/gpu" in conditions_message(d, "Scheduled")


def test_gang_of_workers_is_released_after_the_timeout() -> None:
    created = NOW - dt.timedelta(seconds=61)
    head = PodView(
        name="h", role="head", attempt=1, phase="Running", scheduled=True, created=created
    )
    worker = PodView(
        name="w",
        role="worker",
        attempt=1,
        phase="Pending",
        unschedulable="no GPUs",
        created=created,
    )
    d = run({"phase": "Pending", "attempt": 1, "startTime": T0}, [head, worker], workers=2)
    assert conditions(d)["Scheduled"] == ("False", "GangSchedulingTimeout")
    assert d.delete_attempt == 1
    assert d.requeue_after == 60
    waiting = decide(snap(d.status, workers=2), [], None, NOW + dt.timedelta(seconds=10), 60)
    assert waiting.create_attempt is None and waiting.requeue_after == pytest.approx(50)
    retry = decide(snap(d.status, workers=2), [], None, NOW + dt.timedelta(seconds=61), 60)
    assert retry.create_attempt == 1


def test_gang_retry_waits_a_full_timeout_after_the_release() -> None:
    created = NOW - dt.timedelta(seconds=61)
    long_ago = "2026-01-01T11:59:01Z"
    unschedulable = {
        "type": "Scheduled", "status": "False", "reason": "Unschedulable",
        "message": "no GPUs", "lastTransitionTime": long_ago, "observedGeneration": 3,
    }  # fmt: skip
    status = {"phase": "Pending", "attempt": 1, "startTime": T0, "conditions": [unschedulable]}
    stuck = PodView(
        name="w",
        role="worker",
        attempt=1,
        phase="Pending",
        unschedulable="no GPUs",
        created=created,
    )
    released = decide(snap(status, workers=2), [stuck], None, NOW, 60)
    assert conditions(released)["Scheduled"] == ("False", "GangSchedulingTimeout")
    again = decide(snap(released.status, workers=2), [], None, NOW + dt.timedelta(seconds=1), 60)
    assert again.create_attempt is None
    assert again.requeue_after == pytest.approx(59)


def test_missing_pods_of_the_current_attempt_are_recreated() -> None:
    d = run({"phase": "Pending", "attempt": 1, "startTime": T0}, [pod("head")], workers=3)
    assert d.create_attempt == 1


def test_ttl_deletes_a_finished_job_on_time() -> None:
    finished = {"phase": "Succeeded", "attempt": 1, "completionTime": "2026-01-01T11:59:50Z"}
    early = run(finished, [], ttl_seconds_after_finished=30)
    assert not early.delete_job and early.requeue_after == pytest.approx(20)
    late = run(finished, [], ttl_seconds_after_finished=5)
    assert late.delete_job


def test_a_finished_job_stops_a_pod_that_still_runs_and_keeps_ended_ones() -> None:
    # The operator died between writing "Failed" and stopping the attempt's pods.
    failed = {"phase": "Failed", "attempt": 1, "completionTime": "2026-01-01T11:59:50Z"}
    assert run(failed, [pod("trainer", "Running")]).delete_attempt == 1
    assert run(failed, [pod("trainer", "Pending")]).delete_attempt == 1
    assert run(failed, [pod("trainer", "Failed")]).delete_attempt is None
    assert run(failed, [pod("trainer", "Running", deleting=True)]).delete_attempt is None
    assert run(failed, [pod("trainer", "Running")]).status == run(failed, []).status


def test_image_pull_backoff_is_reported() -> None:
    pulling = PodView(
        name="p",
        role="trainer",
        attempt=1,
        phase="Pending",
        scheduled=True,
        waiting_reason="ImagePullBackOff",
        waiting_message="no such image",
    )
    d = run({"phase": "Pending", "attempt": 1, "startTime": T0}, [pulling])
    assert conditions(d)["Running"] == ("False", "ImagePullBackOff")


def test_no_change_means_same_status() -> None:
    first = run({"phase": "Pending", "attempt": 1, "startTime": T0}, [pod()])
    second = run(first.status, [pod()])
    assert second.status == first.status
    assert second.events == []
