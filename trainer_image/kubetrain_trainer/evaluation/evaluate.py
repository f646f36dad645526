"""The evaluation stage's entry point: score the trained model on every split.

`cross_validate` trains and scores one model per fold (with `folds`); `evaluate` scores the
final model on the train, validation and test rows, judges the objective on the held-out rows,
and collects the warnings and training-health findings.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.data.quality import quality_warnings
from kubetrain_trainer.evaluation import health
from kubetrain_trainer.evaluation.baselines import baseline_warnings, compare
from kubetrain_trainer.evaluation.metrics import (
    Evaluation,
    check_objective,
    cross_validation_summary,
    score,
    undefined_metric_warnings,
)
from kubetrain_trainer.models.train import ModelSpec, TrainResult, train
from kubetrain_trainer.preparation.spec import Arrays, PreparedData
from kubetrain_trainer.runtime.clock import StageClock
from kubetrain_trainer.runtime.progress import ProgressReporter


def cross_validate(
    config: JobConfig,
    spec: ModelSpec,
    prepared: PreparedData,
    progress: ProgressReporter,
    clock: StageClock,
) -> dict[str, dict[str, Any]]:
    """One model per fold, scored on the fold's validation rows: mean and spread per metric."""
    if not prepared.folds:
        return {}
    task, folds = config.base_task, prepared.folds
    progress.update("evaluation", completed=0, total=len(folds), unit="folds")
    per_fold = []
    with clock.stage("cross-validation"):
        for k, fold in enumerate(folds, 1):
            result = train(spec, task, fold.train, fold.validation, fold.preprocessor, None)
            fold_metrics = score_split(result.model, task, fold.validation)[0]
            per_fold.append(_with_mase(fold_metrics, prepared))
            progress.update(completed=k, total=len(folds), unit="folds")
    return cross_validation_summary(per_fold, task)


def _units(model_pre: Any, arrays: Arrays, values: np.ndarray) -> np.ndarray:
    return cast(np.ndarray, model_pre.inverse_target(values, arrays.offset))


def score_split(result_model: Any, task: str, arrays: Arrays) -> tuple[dict[str, Any], Any]:
    """Metrics of one split in the target's units, plus (truth, prediction) for plots."""
    pred, proba = result_model.predict_arrays(arrays.x)
    pre = result_model.preprocessor
    if task == "classification":
        return score(task, arrays.y, pred, proba, len(pre.classes)), (arrays.y, pred)
    truth, guess = _units(pre, arrays, arrays.y), _units(pre, arrays, pred)
    return score(task, truth, guess), (truth, guess)


def evaluate(
    config: JobConfig, prepared: PreparedData, trained: TrainResult, cv: dict[str, dict[str, Any]]
) -> tuple[Evaluation, Any]:
    """Every split's metrics, the objective's verdict on the held-out rows (test, else the
    cross-validation means, else validation), warnings and health findings; plus the
    (truth, prediction[, baselines]) of the split the plots show."""
    task = config.base_task
    model = trained.model
    train_metrics, train_plot = score_split(model, task, prepared.train)
    train_metrics = _with_mase(train_metrics, prepared)
    val_metrics, val_plot, test_plot = None, None, None
    if prepared.validation is not None:
        val_metrics, val_plot = score_split(model, task, prepared.validation)
        val_metrics = _with_mase(val_metrics, prepared)
    if prepared.test is not None:
        test_metrics, plot_data = score_split(model, task, prepared.test)
        test_metrics = _with_mase(test_metrics, prepared)
        test_plot = plot_data
        held_out = test_metrics
    elif cv:
        test_metrics, plot_data = {}, None
        held_out = {name: v["mean"] for name, v in cv.items()}
    else:
        assert val_metrics is not None
        test_metrics, plot_data = {}, val_plot
        held_out = val_metrics
    objective = check_objective(held_out, config.objective)
    findings = _health(config, prepared, trained, (train_metrics, val_metrics), objective.value)
    warnings = quality_warnings(prepared.rows_dropped, prepared.quality)
    warnings += [f["message"] for f in findings]
    splits = {"train": train_plot, "validation": val_plot, "test": test_plot}
    metrics_of = {"train": train_metrics, "validation": val_metrics, "test": test_metrics}
    warnings += undefined_metric_warnings(
        task, {k: (v[0], metrics_of[k] or {}) if v else None for k, v in splits.items()}
    )
    if trained.diverged and not any(f["reason"] == health.NON_FINITE_LOSS for f in findings):
        warnings.append("training diverged (non-finite loss).")
    classes = [str(c) for c in model.preprocessor.classes] if model.preprocessor.classes else None
    baselines, forecasts = _baselines(prepared, test_plot, val_plot)
    if baselines is not None:
        warnings += baseline_warnings(baselines)
        plot_data = (*plot_data, forecasts) if plot_data is not None else None
    evaluation = Evaluation(
        task=config.task,
        test=test_metrics,
        train=train_metrics,
        validation=val_metrics,
        objective=objective,
        cross_validation=cv,
        warnings=warnings,
        classes=classes,
        health=findings,
        baselines=baselines,
    )
    return evaluation, plot_data


def _health(
    config: JobConfig,
    prepared: PreparedData,
    trained: TrainResult,
    scores: tuple[dict[str, Any], dict[str, Any] | None],
    value: float | None,
) -> list[dict[str, str]]:
    """Training-health findings: the loss history, overfitting, and underfitting against the
    naive prediction on the same held-out rows (forecasting has its own baselines)."""
    metric, maximize = config.objective.metric, config.objective.direction == "maximize"
    found = health.live_findings(trained.history)
    found += health.overfitting(scores[0], scores[1], metric, maximize)
    held = prepared.test if prepared.test is not None else prepared.validation
    if held is not None and config.base_task in ("classification", "regression"):
        classes = len(prepared.preprocessor.classes or [])
        naive, what = health.naive_scores(config.base_task, prepared.train.y, held.y, classes)
        found += health.underfitting(value, naive.get(metric), metric, maximize, what)
    return found


def _with_mase(metrics: dict[str, Any], prepared: PreparedData) -> dict[str, Any]:
    """Forecasting: MAE in units of the training series' in-sample seasonal-naive error."""
    series = prepared.series
    if series is None:
        return metrics
    scale, mae = series.scale, metrics.get("mae")
    if mae is None or not np.isfinite(scale):
        return {**metrics, "mase": None}
    return {**metrics, "mase": mae / scale}


def _baselines(
    prepared: PreparedData, test_plot: Any, val_plot: Any
) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
    """Naive and seasonal naive on the held-out windows the model was scored on."""
    series = prepared.series
    if series is None or (test_plot is None and val_plot is None):
        return None, {}
    if test_plot is not None:
        split, start, stop, (truth, guess) = "test", series.val_end, len(series.values), test_plot
    else:
        split, start, stop, (truth, guess) = (
            "validation",
            series.train_end,
            series.val_end,
            val_plot,
        )
    return compare(series, split, start, stop, truth, guess)
