"""The outcome of a search: every trial's row, and the best trial over this and earlier attempts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubetrain_trainer.tuning.space import decode_params
from kubetrain_trainer.tuning.trial_log import TrialLog


@dataclass
class TuningResult:
    best_params: dict[str, Any]
    best_value: float | None
    best_epoch: int | None
    trials: list[dict[str, Any]] = field(default_factory=list)
    errored: int = 0
    stopped_early: int = 0
    total_epochs: int = 0
    resumed: int = 0  # trials finished by earlier attempts, not run again
    best_model: Any = None  # TrainedModel of the best trial (finalModel best-trial)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "trials": len(self.trials),
            "errored": self.errored,
            "stoppedEarly": self.stopped_early,
            "totalEpochs": self.total_epochs,
            "resumedTrials": self.resumed,
            "bestConfig": self.best_params,
            "bestValue": self.best_value,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class BestTrial:
    """The best trial: its hyperparameters, objective value, best epoch and (maybe) model."""

    params: dict[str, Any]
    value: float | None
    epoch: int | None
    model: Any = None  # predict.TrainedModel, kept when the final model is the best trial


def choose_best(
    past: dict[str, Any] | None,
    new: BestTrial | None,
    better: Callable[[float, float], bool],
    log: TrialLog | None,
    keep_models: bool,
) -> BestTrial | None:
    """The better of the best earlier trial (`past`, a TrialLog record) and this attempt's."""
    if past is None or (
        new is not None and new.value is not None and not better(past["objective"], new.value)
    ):
        return new
    return BestTrial(
        params=decode_params(past["config"]),
        value=past["objective"],
        epoch=past.get("bestEpoch"),
        model=log.best_model(past["key"]) if log and keep_models else None,
    )


def past_row(record: dict[str, Any]) -> dict[str, Any]:
    """The trials.json row of a trial an earlier attempt finished."""
    return {
        "params": record.get("params", decode_params(record.get("config", {}))),
        "objective": record.get("objective"),
        "epochs": int(record.get("epochs", 0)),
        "error": None,
        "attempt": record.get("attempt"),
    }


def result_row(result: Any, mode: str, epochs: int, attempt: str | None) -> dict[str, Any]:
    """The trials.json row of a trial this attempt ran (a Tune `Result`)."""
    metrics = result.metrics or {}
    return {
        "params": decode_params(result.config or {}),
        "objective": _best_of(result, mode),
        "epochs": int(metrics.get("training_iteration", 0) or 0),
        "error": None if result.error is None else str(result.error).splitlines()[0],
        "attempt": attempt,
    }


def best_record(
    records: list[dict[str, Any]], better: Callable[[float, float], bool]
) -> dict[str, Any] | None:
    """The finished trial of an earlier attempt with the best objective."""
    best = None
    for record in records:
        value = record.get("objective")
        if value is not None and (best is None or better(value, best["objective"])):
            best = record
    return best


def best_of_grid(grid: Any, mode: str) -> BestTrial:
    """The best trial of this attempt's Tune run: its config, value, best epoch and model."""
    best_result = grid.get_best_result(metric="objective", mode=mode, scope="all")
    best_model = None
    checkpoint = (
        best_result.get_best_checkpoint("objective", mode) if best_result.best_checkpoints else None
    )
    if checkpoint is not None:
        import joblib

        with checkpoint.as_directory() as directory:
            best_model = joblib.load(Path(directory) / "model.joblib")
    best_epoch = None
    history = best_result.metrics_dataframe
    if history is not None and "objective" in history:
        column = history["objective"]
        best_epoch = int(history["epoch"][column.idxmax() if mode == "max" else column.idxmin()])
    return BestTrial(
        params=decode_params(best_result.config or {}),
        value=_best_of(best_result, mode),
        epoch=best_epoch,
        model=best_model,
    )


def _best_of(result: Any, mode: str) -> float | None:
    frame = result.metrics_dataframe
    if frame is None or "objective" not in frame or frame["objective"].dropna().empty:
        return None
    column = frame["objective"].dropna()
    return float(column.max() if mode == "max" else column.min())
