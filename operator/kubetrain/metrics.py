"""Prometheus metrics of the operator, served on `--metrics-port` at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from kubetrain.api import Phase

JOBS = Gauge("kubetrain_jobs", "TrainingJobs by phase, as last reconciled", ["phase"])
RECONCILE_SECONDS = Histogram(
    "kubetrain_reconcile_duration_seconds",
    "Time to reconcile one TrainingJob",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_ERRORS = Counter(
    "kubetrain_api_errors_total", "Failed Kubernetes API calls", ["operation", "code"]
)
ATTEMPTS = Counter("kubetrain_attempts_total", "Attempts started", ["reason"])
TRANSITIONS = Counter("kubetrain_phase_transitions_total", "Phase transitions", ["phase"])
QUEUE_DEPTH = Gauge("kubetrain_workqueue_depth", "TrainingJobs waiting to be reconciled")


class PhaseIndex:
    """The phase of every job this replica knows, so that the gauge counts each job once."""

    def __init__(self) -> None:
        self.phases: dict[str, str] = {}

    def set(self, key: str, phase: str | None) -> None:
        """Record the job's phase (None: it is gone); only the two phases involved change."""
        old = self.phases.pop(key, None) if phase is None else self.phases.get(key)
        if phase is not None:
            self.phases[key] = phase
        if old == phase:
            return
        if old is not None:
            JOBS.labels(phase=old).dec()
        if phase is not None:
            JOBS.labels(phase=phase).inc()


for _phase in Phase:  # every phase is exported from the start, at 0
    JOBS.labels(phase=_phase.value)


def serve(port: int) -> None:
    start_http_server(port, addr="0.0.0.0")
