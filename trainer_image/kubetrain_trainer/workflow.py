"""The workflow: data → preparation → (tuning) → training → evaluation → artifacts.

`run(config, context)` runs one attempt of a job and returns a `JobResult`. It is what
`python -m kubetrain_trainer` calls in a pod and what `kubetrain run` calls on a laptop; the
only differences are the `RunContext` (where artifacts go, which Ray cluster) and the progress
reporter's interval.
"""

from __future__ import annotations

import dataclasses
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubetrain.api.contract import Files
from kubetrain_trainer import artifacts, health, report
from kubetrain_trainer.baselines import baseline_warnings, compare
from kubetrain_trainer.checkpoint import CheckpointStore, StopSignal
from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.data import LoadedData, load
from kubetrain_trainer.distributed import RAY_DATA
from kubetrain_trainer.distributed import choose as choose_data_path
from kubetrain_trainer.errors import DataError, InvalidSpecError
from kubetrain_trainer.evaluate import (
    Evaluation,
    check_objective,
    cross_validation_summary,
    score,
    undefined_metric_warnings,
)
from kubetrain_trainer.prepare import Arrays, PreparedData, prepare
from kubetrain_trainer.progress import ProgressReporter
from kubetrain_trainer.quality import quality_warnings
from kubetrain_trainer.storage import Storage
from kubetrain_trainer.torch_train import LoopHooks
from kubetrain_trainer.train import ModelSpec, TrainResult, train


@dataclass
class RunContext:
    """Where this attempt runs and writes (from the pod's environment, or `kubetrain run`)."""

    job: str
    namespace: str
    attempt: str
    output: Storage  # the root `<output>`; the attempt writes below <namespace>/<job>/<attempt>
    ray_address: str | None = None
    progress_interval: float = 5.0
    echo_progress: bool = True
    stop: StopSignal | None = None

    @property
    def job_storage(self) -> Storage:
        return self.output.child(self.namespace, self.job)

    @property
    def attempt_storage(self) -> Storage:
        return self.job_storage.child(self.attempt)


@dataclass
class JobResult:
    evaluation: Evaluation
    artifact_uri: str
    report_uri: str
    metadata: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


class _Clock:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0) + time.monotonic() - started, 3)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def resolve_text_column(config: JobConfig, data: LoadedData) -> JobConfig:
    """text-classification: the dataset's text column, `text`, or the only string column."""
    text = config.preparation.text
    if text is None or text.column:
        return config
    frame = data.train
    if data.info is not None and data.info.text_column:
        column = data.info.text_column
    elif "text" in frame.columns:
        column = "text"
    else:
        strings = [
            c for c in frame.columns if c != config.preparation.target and frame[c].dtype == object
        ]
        if len(strings) != 1:
            raise DataError(
                "text-classification needs one text column: name it `text`, or keep exactly one "
                f"string column besides the target (found {strings or 'none'})."
            )
        column = strings[0]
    prep = dataclasses.replace(config.preparation, text=dataclasses.replace(text, column=column))
    return dataclasses.replace(config, preparation=prep)


def _units(model_pre: Any, arrays: Arrays, values: np.ndarray) -> np.ndarray:
    return model_pre.inverse_target(values, arrays.offset)


def score_split(result_model: Any, task: str, arrays: Arrays) -> tuple[dict[str, Any], Any]:
    """Metrics of one split in the target's units, plus (truth, prediction) for plots."""
    pred, proba = result_model.predict_arrays(arrays.x)
    pre = result_model.preprocessor
    if task == "classification":
        return score(task, arrays.y, pred, proba, len(pre.classes)), (arrays.y, pred)
    truth, guess = _units(pre, arrays, arrays.y), _units(pre, arrays, pred)
    return score(task, truth, guess), (truth, guess)


def _fit(
    config: JobConfig,
    spec: ModelSpec,
    prepared: PreparedData,
    train_arrays: Arrays,
    validation: Arrays | None,
    hooks: LoopHooks | None,
) -> TrainResult:
    return train(spec, config.base_task, train_arrays, validation, prepared.preprocessor, hooks)


def _merge(a: Arrays, b: Arrays | None) -> Arrays:
    if b is None:
        return a
    offset = None
    if a.offset is not None and b.offset is not None:
        offset = np.concatenate([a.offset, b.offset])
    return Arrays(np.concatenate([a.x, b.x]), np.concatenate([a.y, b.y]), offset)


def run(config: JobConfig, context: RunContext) -> JobResult:
    path = choose_data_path(config)
    if path.name == RAY_DATA:  # several workers reading files: see kubetrain_trainer.distributed
        from kubetrain_trainer.distributed.pipeline import run as run_on_ray_data

        return run_on_ray_data(config, context, path)
    clock = _Clock()
    cpu_start, wall_start = _cpu_seconds(), time.monotonic()
    out = context.attempt_storage
    progress = ProgressReporter(
        out,
        attempt=context.attempt,
        min_interval=context.progress_interval,
        echo=context.echo_progress,
    )
    task = config.base_task

    progress.update("data", force=True)
    with clock.stage("data"):
        data = load(config.data, config.data_s3)
    config = resolve_text_column(config, data)

    progress.update("preparation")
    with clock.stage("preparation"):
        prepared = prepare(data, config.preparation)

    if config.model is None:
        raise InvalidSpecError("custom code runs through kubetrain_trainer.custom, not here.")
    model_spec: ModelSpec = config.model
    tuning_result = None
    trained: TrainResult | None = None
    validation = prepared.validation
    if validation is None and prepared.folds:
        validation = prepared.folds[0].validation  # tuning and early stopping need one
    search = config.tuning
    if search is None and config.auto is not None:
        from kubetrain_trainer.auto import tune_spec

        search = tune_spec(config.auto)  # automatic selection runs as a planned search
    if search is not None:
        from kubetrain_trainer.trial_log import TrialLog
        from kubetrain_trainer.tune import TrialContext, run_tuning

        stage = "tuning" if config.tuning is not None else "selection"
        progress.update(stage, completed=0, total=search.max_trials, unit="trials")
        _ensure_ray(context, model_spec.workers)
        fold = prepared.folds[0] if prepared.folds and prepared.validation is None else None
        ctx = TrialContext(
            task=task,
            model=model_spec,
            train=fold.train if fold else prepared.train,
            validation=validation,
            preprocessor=fold.preprocessor if fold else prepared.preprocessor,
            objective=config.objective,
        )
        log = TrialLog(
            context.job_storage.child(
                stage, _tuning_fingerprint(data.content_hash, config, search)
            ),
            context.attempt,
            config.objective.better,
        )
        with clock.stage(stage):
            tuning_result = run_tuning(search, ctx, progress=progress, log=log, stop=context.stop)
        model_spec = model_spec.with_params(tuning_result.best_params)
        keep = search.final_model == "best-trial" and tuning_result.best_model is not None
        if keep and fold is None:
            trained = TrainResult(model=tuning_result.best_model)

    retrain = config.tuning is not None and config.tuning.final_model == "retrain"
    # Networks checkpoint epochs; a scikit-learn fit saves the fitted model (both resume).
    fingerprint = _fingerprint(
        data.content_hash, model_spec, config, fitOn="train+validation" if retrain else "train"
    )
    checkpoints = CheckpointStore(
        context.job_storage, context.attempt, fingerprint, config.checkpoint,
        keep=config.checkpoints_to_keep, data_hash=data.content_hash,
    )  # fmt: skip
    hooks = LoopHooks(checkpoints=checkpoints, progress=progress, stop=context.stop)

    if trained is None:
        if model_spec.workers > 1 or model_spec.gpus_per_worker:
            _ensure_ray(context, model_spec.workers)
        with clock.stage("training"):
            train_arrays, val_arrays = prepared.train, prepared.validation
            if retrain and tuning_result is not None:
                # Retrain on training + validation together, for the best trial's epochs.
                train_arrays, val_arrays = _merge(prepared.train, prepared.validation), None
                if tuning_result.best_epoch and model_spec.family == "torch":
                    model_spec = dataclasses.replace(
                        model_spec,
                        training=dataclasses.replace(
                            model_spec.training, epochs=tuning_result.best_epoch, patience=None
                        ),
                    )
            trained = _fit(config, model_spec, prepared, train_arrays, val_arrays, hooks)

    cv_summary: dict[str, dict] = {}
    if prepared.folds:
        progress.update("evaluation", completed=0, total=len(prepared.folds), unit="folds")
        with clock.stage("cross-validation"):
            per_fold = []
            for k, fold in enumerate(prepared.folds, 1):
                fold_result = train(
                    model_spec, task, fold.train, fold.validation, fold.preprocessor, None
                )
                fold_metrics = score_split(fold_result.model, task, fold.validation)[0]
                per_fold.append(_with_mase(fold_metrics, prepared))
                progress.update(completed=k, total=len(prepared.folds), unit="folds")
            cv_summary = cross_validation_summary(per_fold, task)

    progress.update("evaluation")
    with clock.stage("evaluation"):
        evaluation, plot_data = _evaluate(config, prepared, trained, cv_summary)

    progress.update("artifacts")
    with clock.stage("artifacts"):
        plots = _plots(config, trained, evaluation, plot_data, tuning_result)
        selection = _selection(config, tuning_result)
        metadata = {
            "job": context.job,
            "namespace": context.namespace,
            "attempt": context.attempt,
            "data": {
                "path": path.to_json(),
                "description": data.description,
                "contentHash": data.content_hash,
                "bytesRead": data.bytes_read,
                "files": data.files,
                "rowsRead": _rows_read(data),
                "rowsDropped": prepared.rows_dropped,
                "quality": prepared.quality,
                "rows": {
                    "train": len(prepared.train),
                    "validation": len(prepared.validation) if prepared.validation else 0,
                    "test": len(prepared.test) if prepared.test else 0,
                },
            },
            "model": {
                "name": model_spec.name,
                "family": model_spec.family,
                "hyperparameters": model_spec.hyperparameters,
                "training": dataclasses.asdict(model_spec.training)
                if model_spec.family == "torch"
                else None,
            },
            "seed": model_spec.seed,
            "libraries": artifacts.library_versions(),
            "training": {
                "epochsRun": trained.epochs_run,
                "resumedFromEpoch": trained.resumed_from_epoch,
                "resumedFromAttempt": trained.resumed_from_attempt,
                "stoppedEarly": trained.stopped_early,
                "device": trained.device,
                "workers": trained.workers,
                "checkpoints": checkpoints.saved,
            },
            "tuning": tuning_result.summary() if tuning_result and config.tuning else None,
            "selection": selection,
        }
        files = artifacts.save_model(out, trained.model, _probe(prepared))
        files.append(artifacts.write_json(out, Files.METRICS, evaluation.to_json()))
        files.append(artifacts.write_json(out, Files.SPEC, config.spec))
        if tuning_result is not None:
            files.append(
                artifacts.write_json(out, f"{Files.TUNING}/trials.json", tuning_result.trials)
            )
        files += artifacts.write_plots(out, plots)
    wall = time.monotonic() - wall_start
    gpus = model_spec.gpus_per_worker * trained.workers if trained.device == "cuda" else 0
    metadata["durations"] = {**clock.stages, "total": round(wall, 3)}
    metadata["computeUsed"] = {
        "durationSeconds": round(wall, 3),
        "cpuSeconds": round(_cpu_seconds() - cpu_start, 3),
        "gpuSeconds": round(gpus * clock.stages.get("training", 0.0), 3),
    }
    files.append(artifacts.write_json(out, Files.METADATA, metadata))
    html = report.html_report(
        title=f"{context.namespace}/{context.job} attempt {context.attempt}",
        metrics=evaluation.to_json(),
        metadata=metadata,
        spec=config.spec,
        plots=plots,
        tuning=tuning_result.summary() if tuning_result and config.tuning else None,
        selection=selection,
    )
    out.write_bytes(Files.REPORT, html)
    files.append(Files.REPORT)
    best = (config.objective.metric, evaluation.objective.value)
    progress.update("done", force=True, best=best)
    return JobResult(
        evaluation=evaluation,
        artifact_uri=out.uri,
        report_uri=f"{out.uri}/{Files.REPORT}",
        metadata=metadata,
        files=files,
    )


def _selection(config: JobConfig, result: Any) -> dict[str, Any] | None:
    """Automatic selection: every candidate ranked by its best trial's objective."""
    if config.auto is None or result is None:
        return None
    from kubetrain_trainer.auto import ranking

    return {
        "metric": config.objective.metric,
        "split": "validation",
        "candidates": ranking(result, config.auto.models, config.objective.mode),
        **result.summary(),
    }


def _rows_read(data: LoadedData) -> dict[str, int]:
    frames = {"train": data.train, "validation": data.validation, "test": data.test}
    return {name: len(frame) for name, frame in frames.items() if frame is not None}


def _probe(prepared: PreparedData) -> np.ndarray:
    held = prepared.test or prepared.validation or prepared.train
    return held.x[:32]


def _fingerprint(data_hash: str, spec: ModelSpec, config: JobConfig, **more: Any) -> str:
    """What a saved state (checkpoint, finished trial) depends on: reuse it only on a match."""
    import hashlib
    import json

    shape = {
        "data": data_hash,
        "model": spec.name,
        "hyperparameters": spec.hyperparameters,
        "training": dataclasses.asdict(spec.training),
        "preparation": dataclasses.asdict(config.preparation),
        "workers": spec.workers,
        **more,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _tuning_fingerprint(data_hash: str, config: JobConfig, search: Any) -> str:
    """The search's own settings, less the bounds that do not change what a trial measures."""
    assert config.model is not None
    bounds = ("max_trials", "parallel_trials", "time_budget_seconds", "max_failed_trials")
    settings = {k: v for k, v in dataclasses.asdict(search).items() if k not in bounds}
    return _fingerprint(
        data_hash, config.model, config, tuning=settings,
        objective=[config.objective.metric, config.objective.direction],
    )  # fmt: skip


def _evaluate(
    config: JobConfig, prepared: PreparedData, trained: TrainResult, cv: dict[str, dict]
) -> tuple[Evaluation, Any]:
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


def _plots(
    config: JobConfig, trained: TrainResult, evaluation: Evaluation, plot_data: Any, tuning: Any
) -> dict[str, bytes]:
    plots: dict[str, bytes] = {}
    curve = report.learning_curve_png(trained.history)
    if curve:
        plots["Learning curves"] = curve
    metrics = evaluation.test or evaluation.validation or {}
    if config.base_task == "classification" and metrics.get("confusion_matrix"):
        plots["Confusion matrix"] = report.confusion_matrix_png(
            metrics["confusion_matrix"], evaluation.classes or []
        )
    elif plot_data is not None:
        truth, guess = plot_data[0], plot_data[1]
        plots["Residuals"] = report.residuals_png(truth, guess)
        if config.base_task == "forecasting":
            baselines = plot_data[2] if len(plot_data) > 2 else {}
            plots["Forecast"] = report.forecast_png(truth, guess, baselines)
    if tuning is not None:
        png = report.trials_png(tuning.trials, "objective", config.objective.mode)
        if png:
            plots["Tuning trials"] = png
    return plots


def _ensure_ray(context: RunContext, workers: int) -> None:
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "configure_logging": False,
        "log_to_driver": False,
    }
    if context.ray_address:
        ray.init(address=context.ray_address, **kwargs)
    else:
        ray.init(**kwargs)
