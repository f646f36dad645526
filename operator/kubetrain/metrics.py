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


class PhaseIndex:
    """The phase of every job this replica knows, so that the gauge counts each job once."""

    def __init__(self) -> None:
        self.phases: dict[str, str] = {}

    def set(self, key: str, phase: str | None) -> None:
        if phase is None:
            self.phases.pop(key, None)
        else:
            self.phases[key] = phase
        counts: dict[str, int] = {}
        for value in self.phases.values():
            counts[value] = counts.get(value, 0) + 1
        for phase in Phase:
            JOBS.labels(phase=phase.value).set(counts.get(phase, 0))


def serve(port: int) -> None:
    start_http_server(port, addr="0.0.0.0")
