"""What the operator sees of an attempt's pods, reduced to the facts its decisions need.

Pure: a pod as the API server returns it (a dict) in, a `PodView` out; likewise Kueue's
Workload in, the reason it gives for not admitting it out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kubetrain.builders.kueue import ADMISSION_GATE, QUEUE_LABEL
from kubetrain.builders.naming import LABEL_ATTEMPT, LABEL_ROLE

# The phases of a pod (not of a TrainingJob, see kubetrain.api.Phase).
POD_PENDING = "Pending"
POD_RUNNING = "Running"
POD_SUCCEEDED = "Succeeded"
POD_FAILED = "Failed"

IMAGE_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
CONFIG_ERROR_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class PodView:
    name: str
    role: str
    attempt: int
    phase: str
    created: dt.datetime | None = None
    scheduled: bool = False
    unschedulable: str | None = None
    """The scheduler's message while the pod cannot be placed."""
    waiting_reason: str | None = None
    waiting_message: str = ""
    exit_code: int | None = None
    terminated_reason: str | None = None
    termination_message: str = ""
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    deleting: bool = False
    queue: str | None = None
    """The Kueue LocalQueue of the pod (its label); with `queued`, the queue it waits in."""
    queued: bool = False
    """Kueue has not admitted the pod yet: its scheduling gate is still on."""

    @property
    def failed(self) -> bool:
        return self.phase == POD_FAILED

    @property
    def running(self) -> bool:
        return self.phase == POD_RUNNING

    @property
    def succeeded(self) -> bool:
        return self.phase == POD_SUCCEEDED

    @property
    def active(self) -> bool:
        """Not ended and not on its way out: it may still be training."""
        return self.phase in (POD_PENDING, POD_RUNNING) and not self.deleting


def pod_view(pod: dict[str, Any]) -> PodView:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    labels = meta.get("labels") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled", {})
    unschedulable = (
        scheduled.get("message") or "unschedulable"
        if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable"
        else None
    )
    waiting_reason = waiting_message = None
    exit_code = terminated_reason = None
    termination_message = ""
    started = finished = None
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason") not in (None, "ContainerCreating"):
            waiting_reason = state["waiting"].get("reason")
            waiting_message = state["waiting"].get("message", "")
        if "running" in state:
            started = parse_time(state["running"].get("startedAt"))
        if "terminated" in state:
            term = state["terminated"]
            exit_code = term.get("exitCode")
            terminated_reason = term.get("reason")
            termination_message = (term.get("message") or "").strip()
            started = parse_time(term.get("startedAt"))
            finished = parse_time(term.get("finishedAt"))
    return PodView(
        name=meta.get("name", ""),
        role=labels.get(LABEL_ROLE, ""),
        attempt=int(labels.get(LABEL_ATTEMPT, "0") or 0),
        phase=status.get("phase", POD_PENDING),
        created=parse_time(meta.get("creationTimestamp")),
        scheduled=scheduled.get("status") == "True",
        unschedulable=unschedulable,
        waiting_reason=waiting_reason,
        waiting_message=waiting_message or "",
        exit_code=exit_code,
        terminated_reason=terminated_reason,
        termination_message=termination_message,
        started=started,
        finished=finished,
        deleting=bool(meta.get("deletionTimestamp")),
        queue=labels.get(QUEUE_LABEL),
        queued=any(
            g.get("name") == ADMISSION_GATE
            for g in (pod.get("spec") or {}).get("schedulingGates") or []
        ),
    )


def workload_pending_message(workload: dict[str, Any] | None) -> str:
    """Why Kueue has not admitted a Workload yet ('' when it does not say): the message of its
    QuotaReserved=False condition, e.g. 'couldn't assign flavors to pod set ...: insufficient
    quota for nvidia.com/gpu in flavor gpu, ...'."""
    conditions = ((workload or {}).get("status") or {}).get("conditions") or []
    for cond in conditions:
        if cond.get("type") == "QuotaReserved" and cond.get("status") == "False":
            return str(cond.get("message") or cond.get("reason") or "")
    return ""
