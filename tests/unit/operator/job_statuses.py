"""One TrainingJob in every phase, its status produced by the real `state.decide`.

The GitOps readers (kstatus, the Argo CD health check) are tested on these objects, so they
see exactly what the operator writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubetrain.api.contract import ObjectiveResult
from kubetrain.observe import PodView
from kubetrain.state import Policy, Snapshot, TrainerReport, decide

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
GENERATION = 3


def _decide(status: dict[str, Any], pods: list[PodView], **policy: Any) -> dict[str, Any]:
    objective = ObjectiveResult(metric="accuracy", value=0.95, threshold=0.9)
    report = TrainerReport(objective=objective, final=True)
    snap = Snapshot(
        generation=GENERATION,
        status=status,
        policy=Policy(**policy),
        artifact_uri_of=lambda n: f"s3://kubetrain/ns/job/{n}/",
    )
    return decide(snap, pods, report, NOW, gang_timeout_seconds=60).status


def _pod(phase: str, **kw: Any) -> PodView:
    return PodView(
        name="job-a1-trainer", role="trainer", attempt=1, phase=phase, scheduled=True, **kw
    )


def statuses() -> dict[str, dict[str, Any]]:
    """phase -> the status `decide` writes on the way there."""
    pending = _decide({}, [])
    running = _decide(pending, [_pod("Running")])
    failed_pod = _pod("Failed", exit_code=1, termination_message="boom")
    return {
        "Pending": pending,
        "Running": running,
        "Succeeded": _decide(running, [_pod("Succeeded", exit_code=0)]),
        "Failed": _decide(running, [failed_pod], backoff_limit=0),
        "Suspended": _decide(running, [_pod("Running")], suspend=True),
    }


def job(status: dict[str, Any], generation: int = GENERATION) -> dict[str, Any]:
    """The whole object, as `kubectl get tj -o json` shows it."""
    return {
        "apiVersion": "kubetrain.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "iris", "namespace": "ml", "generation": generation},
        "spec": {},
        "status": status,
    }
