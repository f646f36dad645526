"""The TrainingJob state machine: the one place that decides phases and conditions.

    (new) ──invalid──▶ Failed[InvalidSpec]
      │ suspend ─────▶ Suspended ◀──suspend── Pending/Running
      ▼                    │ resume (new attempt, from the checkpoint)
    Pending ──all pods run──▶ Running ──driver exits 0──▶ Succeeded | Failed[SuccessCriteriaNotMet]
      ▲                          │ a pod fails
      └──new attempt (≤ backoffLimit)──┘        else Failed[BackoffLimitExceeded | TrainerError]
    Pending/Running ──activeDeadlineSeconds──▶ Failed[DeadlineExceeded]
    Pending: a Kueue-queued attempt waits with condition Queued until Kueue admits its pods.

`decide` is pure: a snapshot of the job, its current attempt's pods and the trainer's report
in; the complete new status, the Events to record and the actions to take out. The handler
applies the actions and patches the status only if it changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kubetrain.api import Phase
from kubetrain.api.contract import Files, ObjectiveResult, permanent_failure
from kubetrain.builders.naming import ROLE_HEAD, ROLE_TRAINER
from kubetrain.observe import IMAGE_PULL_REASONS, PodView, parse_time

# Condition types.
VALID = "Valid"
SCHEDULED = "Scheduled"
RUNNING = "Running"
SUSPENDED = "Suspended"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
SUCCESS_CRITERIA = "SuccessCriteriaMet"
"""The verdict: True or False only when a metric was computed and compared; else Unknown."""
STORE_READABLE = "ArtifactStoreReadable"
TRAINING_HEALTHY = "TrainingHealthy"
QUEUED = "Queued"

# Reasons.
INVALID_SPEC = "InvalidSpec"
UNSCHEDULABLE = "Unschedulable"
GANG_TIMEOUT = "GangSchedulingTimeout"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
OOM_KILLED = "OOMKilled"
DEADLINE_EXCEEDED = "DeadlineExceeded"
BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
SUCCESS_CRITERIA_NOT_MET = "SuccessCriteriaNotMet"
SUCCESS_CRITERIA_MET = "SuccessCriteriaMet"
TRAINER_ERROR = "TrainerError"
ATTEMPT_FAILED = "AttemptFailed"
TRAINING_COMPLETED = "TrainingCompleted"
THRESHOLD_MET = "ThresholdMet"
THRESHOLD_NOT_MET = "ThresholdNotMet"
NO_THRESHOLD = "NoThreshold"
NO_METRICS = "NoMetrics"
STORE_UNREADABLE = "StoreUnreadable"
WAITING_FOR_ADMISSION = "WaitingForAdmission"
ADMITTED = "Admitted"


@dataclass(frozen=True)
class Policy:
    """The parts of the spec the lifecycle follows (readable even from an invalid spec)."""

    workers: int = 1
    suspend: bool = False
    backoff_limit: int = 3
    active_deadline_seconds: float | None = None
    ttl_seconds_after_finished: int | None = None
    cpus_per_pod: float = 1.0
    gpus_per_pod: int = 0
    queue_name: str | None = None
    """The Kueue LocalQueue that admits the job; Kueue, not the gang timeout, then keeps a
    Ray cluster from being placed in part."""


@dataclass(frozen=True)
class Snapshot:
    generation: int
    status: dict[str, Any]
    policy: Policy
    spec_errors: tuple[str, ...] = ()
    artifact_uri_of: Any = None
    """attempt -> the artifact URI; given by the handler (depends on the operator config)."""
    queue_message: str = ""
    """Kueue's reason for not admitting the current attempt yet (from its Workload)."""


@dataclass(frozen=True)
class TrainerReport:
    """What the trainer wrote to the store: progress while it runs, metrics at the end."""

    progress: dict[str, Any] | None = None
    best_metric: dict[str, Any] | None = None
    metrics: dict[str, float] | None = None
    best_hyperparameters: dict[str, Any] | None = None
    objective: ObjectiveResult | None = None
    """metrics.json's objective: metric, value, threshold, direction, passed."""
    health: tuple[tuple[str, str], ...] = ()
    """Training-health findings (reason, message): overfitting, NaN loss, ..."""
    final: bool = False
    """The driver has finished: metrics.json should be there."""
    metrics_missing: bool = False
    metrics_invalid: bool = False
    store_error: str | None = None
    """Why the store could not be read (denied, unreachable, no credentials)."""


@dataclass(frozen=True)
class Verdict:
    """The SuccessCriteriaMet condition: "True", "False" or "Unknown", and why."""

    status: str
    reason: str
    message: str

    @property
    def met(self) -> bool | None:
        return {"True": True, "False": False}.get(self.status)


def verdict(report: TrainerReport | None) -> Verdict:
    """No verdict without evidence: True/False only for a computed value and a threshold."""
    if report is None or report.store_error:
        why = report.store_error if report else "no report was read"
        return Verdict("Unknown", STORE_UNREADABLE, f"cannot read the trainer's metrics: {why}")
    objective = report.objective
    if objective is None:
        what = "is not valid" if report.metrics_invalid else "was not written"
        return Verdict("Unknown", NO_METRICS, f"the attempt's {Files.METRICS} {what}: no verdict")
    if objective.value is None:
        return Verdict(
            "Unknown", NO_METRICS, f"no value of {objective.metric} was reported: no verdict"
        )
    shown = f"{objective.metric} = {objective.value:.4g} on held-out data"
    if objective.threshold is None:
        return Verdict("Unknown", NO_THRESHOLD, f"{shown}; no threshold declared")
    maximize = objective.direction != "minimize"
    met = (
        objective.value >= objective.threshold
        if maximize
        else objective.value <= objective.threshold
    )
    op = ">=" if maximize else "<="
    message = f"{shown}, threshold {op} {objective.threshold:g}: {'met' if met else 'NOT met'}"
    return Verdict("True" if met else "False", THRESHOLD_MET if met else THRESHOLD_NOT_MET, message)


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass
class Decision:
    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    create_attempt: int | None = None
    delete_attempt: int | None = None
    delete_workers_of: int | None = None
    delete_job: bool = False
    requeue_after: float | None = None


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Builder:
    """Accumulates the new status, conditions and events of one decision."""

    def __init__(self, snap: Snapshot, now: dt.datetime) -> None:
        self.snap = snap
        self.now = now
        self.status: dict[str, Any] = {
            k: v for k, v in snap.status.items() if k not in ("conditions", "observedGeneration")
        }
        self.conditions: list[dict[str, Any]] = [
            dict(c) for c in snap.status.get("conditions") or []
        ]
        self.decision = Decision(status=self.status)
        self.old_phase = snap.status.get("phase")

    def condition(self, kind: str, value: bool | str, reason: str, message: str = "") -> None:
        status = value if isinstance(value, str) else ("True" if value else "False")
        existing = next((c for c in self.conditions if c["type"] == kind), None)
        new = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message[:32000],
            "lastTransitionTime": iso(self.now),
            "observedGeneration": self.snap.generation,
        }
        if existing is not None:
            # A new reason is a new state of affairs (e.g. Unschedulable, then the gang released
            # at GangSchedulingTimeout): its time counts from now.
            if existing["status"] == status and existing["reason"] == reason:
                new["lastTransitionTime"] = existing["lastTransitionTime"]
            self.conditions[self.conditions.index(existing)] = new
        else:
            self.conditions.append(new)

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.decision.events.append(Event("Warning" if warning else "Normal", reason, message))

    def phase(self, phase: Phase, reason: str, message: str) -> None:
        self.status["phase"] = phase.value
        self.status["message"] = message
        if phase.value != self.old_phase:
            self.event(reason, f"{phase.value}: {message}", warning=phase is Phase.FAILED)
        if phase.is_terminal and not self.status.get("completionTime"):
            self.status["completionTime"] = iso(self.now)

    def finish(self) -> Decision:
        _summarise(self)
        self.status["conditions"] = self.conditions
        self.status["observedGeneration"] = self.snap.generation
        return self.decision


def _summarise(b: _Builder) -> None:
    """The summary conditions GitOps tools read, from the phase (docs/gitops.md).

    kstatus (Flux, kpt, cli-utils): `Reconciling` True while Pending/Running is InProgress,
    `Stalled` True once Failed is Failed, `Ready` True once Succeeded is Current. Argo CD's
    health check (helm/kubetrain/files/argocd-health.lua) reads the phase itself.
    """
    phase = b.status.get("phase") or Phase.PENDING.value
    message = b.status.get("message") or ""
    why = next((c["reason"] for c in b.conditions if c["type"] == FAILED), phase)
    b.condition("Ready", phase == Phase.SUCCEEDED, phase, message)
    b.condition("Reconciling", phase in (Phase.PENDING, Phase.RUNNING), phase, message)
    b.condition("Stalled", phase == Phase.FAILED, why if phase == Phase.FAILED else phase, message)


def _compute_used(b: _Builder, pods: list[PodView]) -> None:
    """Add the finished pods' run time (times the requested CPUs/GPUs) to computeUsed."""
    used = dict(b.status.get("computeUsed") or {})
    seconds = 0.0
    for pod in pods:
        if pod.started is None:
            continue
        end = pod.finished or b.now
        seconds += max(0.0, (end - pod.started).total_seconds())
    policy = b.snap.policy
    used["cpuSeconds"] = round(used.get("cpuSeconds", 0.0) + seconds * policy.cpus_per_pod, 3)
    used["gpuSeconds"] = round(used.get("gpuSeconds", 0.0) + seconds * policy.gpus_per_pod, 3)
    start = parse_time(b.status.get("startTime"))
    if start is not None:
        used["durationSeconds"] = round((b.now - start).total_seconds(), 3)
    b.status["computeUsed"] = used


def _apply_report(b: _Builder, report: TrainerReport | None) -> None:
    if report is None:
        return
    _store_condition(b, report)
    _health_condition(b, report)
    if report.progress:
        b.status["progress"] = report.progress
    if report.best_metric:
        b.status["bestMetric"] = report.best_metric
    if report.metrics:
        b.status["bestMetrics"] = report.metrics
    if report.best_hyperparameters:
        b.status["bestHyperparameters"] = report.best_hyperparameters


def _store_condition(b: _Builder, report: TrainerReport) -> None:
    old = next((c for c in b.conditions if c["type"] == STORE_READABLE), None)
    if report.store_error:
        message = f"cannot read the trainer's progress and metrics: {report.store_error}"
        if old is None or old["status"] != "False":
            b.event(STORE_UNREADABLE, message, warning=True)
        b.condition(STORE_READABLE, False, STORE_UNREADABLE, message)
    else:
        b.condition(STORE_READABLE, True, "StoreRead", "the operator reads the attempt's files")


def _health_condition(b: _Builder, report: TrainerReport) -> None:
    """TrainingHealthy False with the findings' reasons; a Warning Event per new finding."""
    if not report.health:
        if report.progress or report.final:
            b.condition(TRAINING_HEALTHY, True, "NoFindings", "no training-health findings")
        return
    old = next((c for c in b.conditions if c["type"] == TRAINING_HEALTHY), None)
    known = set(old["reason"].split(",")) if old and old["status"] == "False" else set()
    reasons = list(dict.fromkeys(reason for reason, _ in report.health))
    for reason, message in report.health:
        if reason not in known:
            b.event(reason, message, warning=True)
            known.add(reason)
    text = "; ".join(message for _, message in report.health)
    b.condition(TRAINING_HEALTHY, False, ",".join(reasons), text)


def _start_attempt(
    b: _Builder, attempt: int, why: str, reason: str = "AttemptCreated", detail: str = ""
) -> None:
    b.status["attempt"] = attempt
    b.status.setdefault("startTime", iso(b.now))
    b.status.pop("progress", None)
    b.decision.create_attempt = attempt
    b.condition(
        RUNNING, False, reason, f"{detail}{'; ' if detail else ''}attempt {attempt} created"
    )
    if b.status.get("phase") == Phase.PENDING:  # no phase change, so no event from phase()
        b.event("AttemptCreated", f"attempt {attempt}: {why}")
    b.phase(Phase.PENDING, "AttemptCreated", f"attempt {attempt}: {why}")


def _attempt_failure(pods: list[PodView]) -> tuple[str, str, bool] | None:
    """(reason, message, permanent) if the attempt has failed, else None."""
    for pod in pods:
        if not pod.failed:
            continue
        if pod.terminated_reason == OOM_KILLED:
            return OOM_KILLED, f"pod {pod.name} ran out of memory (OOMKilled)", False
        detail = f": {pod.termination_message}" if pod.termination_message else ""
        what = permanent_failure(pod.exit_code)
        if pod.role in (ROLE_TRAINER, ROLE_HEAD) and what is not None:
            return TRAINER_ERROR, f"the trainer stopped: {what}{detail}", True
        return (
            ATTEMPT_FAILED,
            f"pod {pod.name} failed with exit code {pod.exit_code}{detail}",
            False,
        )
    return None


def _driver(pods: list[PodView]) -> PodView | None:
    return next((p for p in pods if p.role in (ROLE_TRAINER, ROLE_HEAD)), None)


def decide(
    snap: Snapshot,
    pods: list[PodView],
    report: TrainerReport | None,
    now: dt.datetime,
    gang_timeout_seconds: float,
) -> Decision:
    """The next status and actions for a TrainingJob (see the module docstring)."""
    b = _Builder(snap, now)
    policy = snap.policy
    phase = snap.status.get("phase")
    attempt = int(snap.status.get("attempt") or 0)

    if phase in (Phase.SUCCEEDED, Phase.FAILED):
        # Its pods were stopped when it finished, unless the operator died just after writing
        # that: a pod of it that still runs is stopped now.
        if any(p.active for p in pods):
            b.decision.delete_attempt = attempt
        return _finished(b, policy)

    if snap.spec_errors:
        message = "invalid spec: " + "; ".join(snap.spec_errors)
        b.condition(VALID, False, INVALID_SPEC, message)
        b.condition(FAILED, True, INVALID_SPEC, message)
        b.phase(Phase.FAILED, INVALID_SPEC, message)
        if attempt:
            b.decision.delete_attempt = attempt
        return b.finish()
    b.condition(VALID, True, "SpecValid", "the spec passed the operator's checks")

    if policy.suspend:
        if phase != Phase.SUSPENDED:
            if attempt and pods:
                _compute_used(b, pods)
                b.decision.delete_attempt = attempt
            b.condition(SUSPENDED, True, "Suspended", "spec.runPolicy.suspend is true")
            b.condition(RUNNING, False, "Suspended", "pods stopped after a SIGTERM checkpoint")
            b.phase(
                Phase.SUSPENDED, "Suspended", "suspended; unsuspend to resume from the checkpoint"
            )
        return b.finish()

    if phase in (None, ""):
        _start_attempt(b, 1, "starting")
        return _with_deadline(b, policy)
    if phase == Phase.SUSPENDED:
        b.condition(SUSPENDED, False, "Resumed", "spec.runPolicy.suspend is false")
        _start_attempt(b, attempt + 1, "resuming from the latest checkpoint")
        return _with_deadline(b, policy)

    # Pending or Running: an attempt is under way.
    start = parse_time(snap.status.get("startTime"))
    deadline = policy.active_deadline_seconds
    if deadline is not None and start is not None and (now - start).total_seconds() >= deadline:
        _compute_used(b, pods)
        message = f"ran longer than activeDeadlineSeconds={deadline:g}"
        b.condition(FAILED, True, DEADLINE_EXCEEDED, message)
        b.condition(RUNNING, False, DEADLINE_EXCEEDED, message)
        b.phase(Phase.FAILED, DEADLINE_EXCEEDED, message)
        b.decision.delete_attempt = attempt
        return _finished(b, policy)

    _apply_report(b, report)
    driver = _driver(pods)
    if driver is not None and driver.phase == "Succeeded":
        return _succeeded(b, policy, pods, report, attempt)

    failure = _attempt_failure(pods)
    if failure is not None:
        return _attempt_failed(b, policy, pods, attempt, *failure)

    if len(pods) < policy.workers:
        # Just created, the operator stopped half-way through creating them, or a pod was
        # removed: (re)create what is missing — names are deterministic, nothing doubles.
        gang = next((c for c in b.conditions if c["type"] == SCHEDULED), None)
        if not pods and gang and gang["reason"] == GANG_TIMEOUT and gang["status"] == "False":
            waited = (now - (parse_time(gang["lastTransitionTime"]) or now)).total_seconds()
            if waited < gang_timeout_seconds:
                b.decision.requeue_after = gang_timeout_seconds - waited
                return _with_deadline(b, policy)
        b.decision.create_attempt = attempt
        if not pods:
            return _with_deadline(b, policy)

    queued = _queued(b, policy, pods)
    if queued is not None:
        return queued

    own_gang = policy.workers > 1 and policy.queue_name is None
    unschedulable = [p for p in pods if p.unschedulable]
    if unschedulable:
        message = f"pod {unschedulable[0].name}: {unschedulable[0].unschedulable}"
        oldest = min((p.created for p in pods if p.created), default=now)
        waited = (now - oldest).total_seconds()
        if own_gang and waited >= gang_timeout_seconds:
            # Never hold part of a Ray cluster's nodes (GPUs) while the rest cannot be placed.
            b.condition(
                SCHEDULED,
                False,
                GANG_TIMEOUT,
                f"not all {policy.workers} pods could be scheduled within "
                f"{gang_timeout_seconds:g}s; released them, retrying in {gang_timeout_seconds:g}s. "
                + message,
            )
            b.event(GANG_TIMEOUT, message, warning=True)
            b.decision.delete_attempt = attempt
            b.decision.requeue_after = gang_timeout_seconds
        else:
            b.condition(SCHEDULED, False, UNSCHEDULABLE, message)
            if own_gang:
                b.decision.requeue_after = gang_timeout_seconds - waited
        b.phase(Phase.PENDING, UNSCHEDULABLE, message)
        return _with_deadline(b, policy)

    pulling = next((p for p in pods if p.waiting_reason in IMAGE_PULL_REASONS), None)
    if pulling is not None:
        message = f"pod {pulling.name}: {pulling.waiting_reason} {pulling.waiting_message}".strip()
        b.condition(RUNNING, False, IMAGE_PULL_BACKOFF, message)
        b.phase(Phase.PENDING, IMAGE_PULL_BACKOFF, message)
        return _with_deadline(b, policy)
    waiting = next((p for p in pods if p.waiting_reason), None)
    if waiting is not None:
        message = f"pod {waiting.name}: {waiting.waiting_reason} {waiting.waiting_message}".strip()
        b.condition(RUNNING, False, waiting.waiting_reason or "Waiting", message)
        b.phase(Phase.PENDING, waiting.waiting_reason or "Waiting", message)
        return _with_deadline(b, policy)

    if all(p.scheduled for p in pods):
        b.condition(SCHEDULED, True, "AllPodsScheduled", f"{len(pods)} pod(s) scheduled")
    if len(pods) == policy.workers and all(p.running for p in pods):
        summary = (report.progress or {}).get("summary") if report and report.progress else None
        b.condition(RUNNING, True, "Training", summary or f"attempt {attempt} is training")
        b.phase(Phase.RUNNING, "Training", f"attempt {attempt} is training")
    return _with_deadline(b, policy)


def _queued(b: _Builder, policy: Policy, pods: list[PodView]) -> Decision | None:
    """While Kueue has not admitted the attempt's pods: Pending, condition Queued, Kueue's
    reason. None once they are admitted (the condition Queued then turns False)."""
    queue = next((p.queue for p in pods if p.queue), None) or policy.queue_name
    waiting = [p for p in pods if p.queued]
    was_queued = any(c["type"] == QUEUED and c["status"] == "True" for c in b.conditions)
    if not waiting:
        if was_queued:
            b.condition(QUEUED, False, ADMITTED, f"admitted by Kueue from LocalQueue {queue!r}")
        return None
    message = (
        f"queued in Kueue LocalQueue {queue!r}: {len(waiting)} of {len(pods)} pod(s) "
        "wait for admission"
    )
    if b.snap.queue_message:
        message += f"; Kueue: {b.snap.queue_message}"
    if not was_queued:
        b.event(QUEUED, message)
    b.condition(QUEUED, True, WAITING_FOR_ADMISSION, message)
    b.phase(Phase.PENDING, QUEUED, message)
    return _with_deadline(b, policy)


def _with_deadline(b: _Builder, policy: Policy) -> Decision:
    start = parse_time(b.status.get("startTime"))
    if policy.active_deadline_seconds is not None and start is not None:
        left = policy.active_deadline_seconds - (b.now - start).total_seconds()
        current = b.decision.requeue_after
        b.decision.requeue_after = max(0.5, left if current is None else min(current, left))
    return b.finish()


def _succeeded(
    b: _Builder,
    policy: Policy,
    pods: list[PodView],
    report: TrainerReport | None,
    attempt: int,
) -> Decision:
    _compute_used(b, pods)
    b.decision.delete_workers_of = attempt if policy.workers > 1 else None
    if b.snap.artifact_uri_of is not None:
        b.status["artifactUri"] = b.snap.artifact_uri_of(attempt)
    result = verdict(report)
    met, sentence = result.met, result.message
    if met is None:
        b.status.pop("successCriteriaMet", None)
    else:
        b.status["successCriteriaMet"] = met
    b.condition(SUCCESS_CRITERIA, result.status, result.reason, result.message)
    b.condition(RUNNING, False, TRAINING_COMPLETED, sentence)
    if met is False:
        b.condition(FAILED, True, SUCCESS_CRITERIA_NOT_MET, sentence)
        b.phase(Phase.FAILED, SUCCESS_CRITERIA_NOT_MET, sentence)
    else:
        b.condition(SUCCEEDED, True, SUCCESS_CRITERIA_MET if met else TRAINING_COMPLETED, sentence)
        b.phase(Phase.SUCCEEDED, TRAINING_COMPLETED, sentence)
    return _finished(b, policy)


def _attempt_failed(
    b: _Builder,
    policy: Policy,
    pods: list[PodView],
    attempt: int,
    reason: str,
    message: str,
    permanent: bool,
) -> Decision:
    _compute_used(b, pods)
    b.decision.delete_attempt = attempt
    failures = int(b.status.get("failedAttempts") or 0) + 1
    b.status["failedAttempts"] = failures
    b.event(reason, f"attempt {attempt} failed: {message}", warning=True)
    if permanent:
        b.condition(FAILED, True, reason, message)
        b.condition(RUNNING, False, reason, message)
        b.phase(Phase.FAILED, reason, message)
        return _finished(b, policy)
    if failures > policy.backoff_limit:
        text = (
            f"{failures} failed attempt(s), backoffLimit is {policy.backoff_limit}; last: {message}"
        )
        b.condition(FAILED, True, BACKOFF_LIMIT_EXCEEDED, text)
        b.condition(RUNNING, False, reason, message)
        b.phase(Phase.FAILED, BACKOFF_LIMIT_EXCEEDED, text)
        return _finished(b, policy)
    _start_attempt(
        b,
        attempt + 1,
        f"retrying after {reason} of attempt {attempt}",
        reason,
        f"attempt {attempt} failed: {message}",
    )
    b.decision.delete_attempt = attempt
    return _with_deadline(b, policy)


def _finished(b: _Builder, policy: Policy) -> Decision:
    ttl = policy.ttl_seconds_after_finished
    done = parse_time(b.status.get("completionTime"))
    if ttl is not None and done is not None:
        left = ttl - (b.now - done).total_seconds()
        if left <= 0:
            b.decision.delete_job = True
        else:
            b.decision.requeue_after = left
    return b.finish()
