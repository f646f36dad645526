"""The status the operator reports: phase, conditions, progress, best result, verdict, cost.

The printer columns of `kubectl get tj` read these fields directly (phase, progress summary,
best value, attempt), never "the last condition".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import Field, StringConstraints

from kubetrain.api.base import ApiModel, Bool, Float, FreeForm, Text
from kubetrain.api.enums import ConditionStatus, Phase, ProgressUnit

NonNegative = Annotated[int, Field(strict=True, ge=0)]
Seconds = Annotated[float, Field(strict=True, ge=0.0)]

REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)


class Condition(ApiModel):
    """An observation of one aspect of the job, per the Kubernetes API conventions."""

    type: Annotated[
        str, StringConstraints(strict=True, max_length=316, pattern=CONDITION_TYPE_PATTERN)
    ]
    """The aspect, in CamelCase (e.g. Ready, Succeeded)."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=1024, pattern=REASON_PATTERN)
    ]
    """A CamelCase word for the cause (e.g. InvalidSpec)."""
    message: Annotated[str, StringConstraints(strict=True, max_length=32768)] = ""
    """Details for humans."""
    last_transition_time: datetime
    """When status last changed."""
    observed_generation: NonNegative | None = None
    """The spec generation the condition was computed from."""


class Progress(ApiModel):
    """How far the job is: epochs (one model) or trials (tuning) done of the total."""

    completed: NonNegative
    """Units done."""
    total: NonNegative
    """Units planned."""
    unit: ProgressUnit
    """What is counted."""
    summary: Annotated[str, StringConstraints(strict=True, max_length=64)]
    """A short text for kubectl: "7/10 epochs"."""

    @classmethod
    def of(cls, completed: int, total: int, unit: ProgressUnit) -> Self:
        """Progress with its summary filled in."""
        return cls(
            completed=completed, total=total, unit=unit, summary=f"{completed}/{total} {unit}"
        )


class MetricValue(ApiModel):
    """One metric's value."""

    name: Annotated[str, StringConstraints(strict=True, max_length=64)]
    """The metric."""
    value: Float
    """Its value."""


class ComputeUsage(ApiModel):
    """What the job has consumed, across attempts."""

    duration_seconds: Seconds = 0.0
    """Wall-clock time the job's pods ran."""
    cpu_seconds: Seconds = 0.0
    """CPU cores requested x seconds."""
    gpu_seconds: Seconds = 0.0
    """GPUs requested x seconds."""


class TrainingJobStatus(ApiModel):
    """The observed state of a TrainingJob, written by the operator."""

    phase: Phase | None = None
    """Pending, Running, Suspended, Succeeded or Failed."""
    conditions: Annotated[
        list[Condition],
        Field(
            max_length=32,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        ),
    ] = Field(default_factory=list)
    """Conditions, one per type."""
    observed_generation: NonNegative | None = None
    """The spec generation the status describes."""
    start_time: datetime | None = None
    """When the first attempt started. From then on the spec is frozen, except
    runPolicy.suspend, activeDeadlineSeconds and ttlSecondsAfterFinished."""
    completion_time: datetime | None = None
    """When the job finished."""
    attempt: NonNegative | None = None
    """The current attempt, from 1; retries after failures and resumes after suspension add
    one."""
    failed_attempts: NonNegative | None = None
    """Attempts that failed; the job fails once this exceeds runPolicy.backoffLimit."""
    progress: Progress | None = None
    """Epochs or trials done of the total."""
    best_metric: MetricValue | None = None
    """The objective's best value so far."""
    best_metrics: Annotated[dict[str, Float], Field(max_length=64)] | None = None
    """All metrics of the best model, by name (validation and test)."""
    best_hyperparameters: FreeForm | None = None
    """The hyperparameters of the best model."""
    trials_failed: NonNegative | None = None
    """Tuning: trials that failed."""
    artifact_uri: Annotated[str, StringConstraints(strict=True, max_length=1024)] | None = None
    """Where the model, metrics and report were written."""
    success_criteria_met: Bool | None = None
    """The verdict: whether the best value reached the objective's threshold."""
    compute_used: ComputeUsage | None = None
    """Time, CPU- and GPU-seconds used."""
    message: Text | None = None
    """A human-readable summary of the state."""

    def condition(self, type_: str) -> Condition | None:
        """The condition of a type, if present."""
        return next((c for c in self.conditions if c.type == type_), None)
