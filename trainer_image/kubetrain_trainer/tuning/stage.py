"""The tuning stage's entry point: tune or select the model, or keep the declared one.

`select` takes the prepared data of stage 2 and returns a `Selection`: the model spec with the
chosen hyperparameters, the tuning result (None without `tuning` or `auto`) and, when the
final model is the best trial, that trial's trained model (so training does not run again).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.data.load import LoadedData
from kubetrain_trainer.errors import DataError, InvalidSpecError
from kubetrain_trainer.models.fingerprint import fingerprint
from kubetrain_trainer.models.train import ModelSpec, TrainResult
from kubetrain_trainer.preparation.spec import PreparedData
from kubetrain_trainer.runtime.clock import StageClock
from kubetrain_trainer.runtime.context import RunContext
from kubetrain_trainer.runtime.progress import ProgressReporter
from kubetrain_trainer.tuning.results import TuningResult
from kubetrain_trainer.tuning.space import TuneSpec


@dataclass
class Selection:
    """The model to train (hyperparameters chosen) and how it was chosen."""

    model: ModelSpec
    tuning: TuningResult | None = None
    kept: TrainResult | None = None  # the best trial's model, when it is the final model


def declared_model(config: JobConfig) -> ModelSpec:
    if config.model is None:
        raise InvalidSpecError("custom code runs through kubetrain_trainer.custom, not here.")
    return config.model


def search_of(config: JobConfig) -> TuneSpec | None:
    """The spec's `tuning`, or the planned search of automatic selection, or None."""
    if config.tuning is None and config.auto is not None:
        from kubetrain_trainer.tuning.auto import tune_spec

        return tune_spec(config.auto)  # automatic selection runs as a planned search
    return config.tuning


def select(
    config: JobConfig,
    context: RunContext,
    data: LoadedData,
    prepared: PreparedData,
    progress: ProgressReporter,
    clock: StageClock,
) -> Selection:
    model = declared_model(config)
    search = search_of(config)
    if search is None:
        return Selection(model)
    from kubetrain_trainer.tuning.search import run_tuning
    from kubetrain_trainer.tuning.trial_log import TrialLog

    stage = "tuning" if config.tuning is not None else "selection"
    progress.update(stage, completed=0, total=search.max_trials, unit="trials")
    context.ensure_ray()
    # Tuning and early stopping need validation rows: the first fold's, with cross-validation.
    fold = prepared.folds[0] if prepared.folds and prepared.validation is None else None
    log = TrialLog(
        context.job_storage.child(stage, _tuning_fingerprint(data.content_hash, config, search)),
        context.attempt,
        config.objective.better,
    )
    with clock.stage(stage):
        result = run_tuning(search, _trial_context(config, prepared), progress=progress,
                            log=log, stop=context.stop)  # fmt: skip
    keep = search.final_model == "best-trial" and result.best_model is not None
    kept = TrainResult(model=result.best_model) if keep and fold is None else None
    return Selection(model.with_params(result.best_params), result, kept)


def _trial_context(config: JobConfig, prepared: PreparedData) -> Any:
    from kubetrain_trainer.tuning.trial import TrialContext

    validation = prepared.validation
    if validation is None and prepared.folds:
        validation = prepared.folds[0].validation
    fold = prepared.folds[0] if prepared.folds and prepared.validation is None else None
    if validation is None:
        raise DataError("tuning needs validation rows: set split.validation above 0, or folds.")
    return TrialContext(
        task=config.base_task,
        model=declared_model(config),
        train=fold.train if fold else prepared.train,
        validation=validation,
        preprocessor=fold.preprocessor if fold else prepared.preprocessor,
        objective=config.objective,
    )


def _tuning_fingerprint(data_hash: str, config: JobConfig, search: TuneSpec) -> str:
    """The search's own settings, less the bounds that do not change what a trial measures."""
    bounds = ("max_trials", "parallel_trials", "time_budget_seconds", "max_failed_trials")
    settings = {k: v for k, v in dataclasses.asdict(search).items() if k not in bounds}
    return fingerprint(
        data_hash, declared_model(config), config, tuning=settings,
        objective=[config.objective.metric, config.objective.direction],
    )  # fmt: skip
