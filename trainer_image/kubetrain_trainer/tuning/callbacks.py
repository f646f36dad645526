"""What runs beside Tune while the search goes: counting, progress, recording, stopping.

Each piece has one job and shares the typed `SearchState`:
- `TrialCounter` counts finished and errored trials and publishes the progress;
- `BestTracker` keeps the best objective overall and per trial (with its epoch);
- `TrialRecorder` writes each finished trial to the `TrialLog` (resume across attempts);
- `StopOnFailures` ends the experiment past `maxFailedTrials`, or on SIGTERM.

Imported only where Ray is (the classes subclass Tune's own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray.tune import Callback, Stopper

from kubetrain_trainer.runtime.checkpoint import StopSignal
from kubetrain_trainer.runtime.progress import ProgressReporter
from kubetrain_trainer.tuning.plan import Pending
from kubetrain_trainer.tuning.space import config_key, decode_params
from kubetrain_trainer.tuning.trial_log import TrialLog


@dataclass
class TrialBest:
    """One trial's best objective so far and the epoch that reached it."""

    objective: float | None = None
    epoch: int | None = None


@dataclass
class SearchState:
    """How far the search got: trials done (with earlier attempts'), errors, best values."""

    done: int
    best: float | None
    errored: int = 0
    per_trial: dict[str, TrialBest] = field(default_factory=dict)


@dataclass
class ProgressPublisher:
    """The tuning stage's progress line: trials done of planned, and the best value so far."""

    progress: ProgressReporter | None
    metric: str
    planned: int
    state: SearchState

    def publish(self, force: bool) -> None:
        if self.progress is not None:
            best = (self.metric, self.state.best)
            self.progress.update("tuning", completed=self.state.done, total=self.planned,
                                 unit="trials", best=best, force=force)  # fmt: skip


def _stopped(stop: StopSignal | None) -> bool:
    return stop is not None and stop.requested()


class TrialCounter(Callback):
    """Counts trials as they end (errored or complete) and publishes the progress."""

    def __init__(self, state: SearchState, publisher: ProgressPublisher, stop: StopSignal | None):
        self.state, self.publisher, self.stop = state, publisher, stop

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if _stopped(self.stop):
            return  # stopped by SIGTERM (it saved its state), not a failure
        self.state.errored += 1
        self._count()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._count()

    def _count(self) -> None:
        self.state.done += 1
        self.publisher.publish(force=self.state.done >= self.publisher.planned)


class BestTracker(Callback):
    """Keeps the best objective of the search and of each trial (with its epoch)."""

    def __init__(self, state: SearchState, better: Callable[[float, float], bool]):
        self.state, self.better = state, better

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        value = result.get("objective")
        if value is None:
            return
        if self.state.best is None or self.better(value, self.state.best):
            self.state.best = value
        mine = self.state.per_trial.setdefault(trial.trial_id, TrialBest())
        if mine.objective is None or self.better(value, mine.objective):
            mine.objective, mine.epoch = value, result.get("epoch")


class TrialRecorder(Callback):
    """Writes each trial Tune reports complete (finished, or stopped by the scheduler) to the
    trial log, with its best model when the final model is the best trial."""

    def __init__(
        self, log: TrialLog, state: SearchState, pending: Pending, epochs: int, keep_models: bool
    ):
        self.log, self.state, self.pending = log, state, pending
        self.epochs, self.keep_models = epochs, keep_models

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        config = dict(trial.config or {})
        keys = self.pending.plan_keys.get(config_key(config))
        key = keys.pop(0) if keys else f"attempt-{self.log.attempt}-{trial.trial_id}"
        last = trial.last_result or {}
        # A trial resumed from a stopped one's state reports its epochs, not Tune's iterations.
        ran = int(last.get("epoch") or last.get("training_iteration") or 0)
        best = self.state.per_trial.get(trial.trial_id, TrialBest())
        record = {
            "key": key,
            "config": config,
            "params": decode_params(config),
            "objective": best.objective,
            "bestEpoch": best.epoch,
            "epochs": ran,
            "stoppedEarly": ran < self.epochs,
        }
        checkpoint = trial.checkpoint if self.keep_models else None
        self.log.record(record, _model_loader(checkpoint) if checkpoint is not None else None)


def _model_loader(checkpoint: Any) -> Callable[[], Any]:
    """Reads the model a trial's checkpoint holds, when the log asks for it."""

    def model() -> Any:
        import joblib

        with checkpoint.as_directory() as directory:
            return joblib.load(Path(directory) / "model.joblib")

    return model


class StopOnFailures(Stopper):
    """Ends the whole experiment past the failure budget, or when SIGTERM asked to stop."""

    def __init__(self, state: SearchState, max_failed: int, stop: StopSignal | None):
        self.state, self.max_failed, self.stop = state, max_failed, stop

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return _stopped(self.stop) or self.state.errored > self.max_failed
