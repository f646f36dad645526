"""The artifacts stage's entry point: write the model, metrics, spec, plots, metadata, report.

`write_artifacts` takes what the earlier stages returned and writes every file of the attempt
under its prefix (see `files` for the layout); it returns the file names and metadata.json's
content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubetrain.api.contract import Files
from kubetrain_trainer.artifacts import files, report
from kubetrain_trainer.artifacts.metadata import add_usage, metadata, selection_summary
from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.data.load import LoadedData
from kubetrain_trainer.evaluation.metrics import Evaluation
from kubetrain_trainer.models.stage import Training
from kubetrain_trainer.models.train import TrainResult
from kubetrain_trainer.preparation.spec import PreparedData
from kubetrain_trainer.runtime.clock import StageClock
from kubetrain_trainer.runtime.context import RunContext
from kubetrain_trainer.tuning.results import TuningResult


@dataclass
class Written:
    """The files the attempt wrote (relative to its prefix) and metadata.json's content."""

    files: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def write_artifacts(
    config: JobConfig,
    context: RunContext,
    data: LoadedData,
    prepared: PreparedData,
    training: Training,
    tuning: TuningResult | None,
    scored: tuple[Evaluation, Any],
    clock: StageClock,
    data_path: dict[str, str] | None = None,
) -> Written:
    out = context.attempt_storage
    evaluation, plot_data = scored
    with clock.stage("artifacts"):
        plots = plots_of(config, training.result, evaluation, plot_data, tuning)
        meta = metadata(config, context, data, prepared, training, tuning, data_path)
        written = files.save_model(out, training.result.model, _probe(prepared))
        written.append(files.write_json(out, Files.METRICS, evaluation.to_json()))
        written.append(files.write_json(out, Files.SPEC, config.spec))
        if tuning is not None:
            written.append(files.write_json(out, f"{Files.TUNING}/trials.json", tuning.trials))
        written += files.write_plots(out, plots)
    add_usage(meta, training, clock)
    written.append(files.write_json(out, Files.METADATA, meta))
    html = report.html_report(
        title=f"{context.namespace}/{context.job} attempt {context.attempt}",
        metrics=evaluation.to_json(),
        metadata=meta,
        spec=config.spec,
        plots=plots,
        tuning=tuning.summary() if tuning and config.tuning else None,
        selection=selection_summary(config, tuning),
    )
    out.write_bytes(Files.REPORT, html)
    written.append(Files.REPORT)
    return Written(written, meta)


def _probe(prepared: PreparedData) -> np.ndarray:
    held = prepared.test or prepared.validation or prepared.train
    return held.x[:32]


def training_plots(
    task: str, history: list[dict[str, Any]], evaluation: Evaluation
) -> dict[str, bytes]:
    """The plots every path draws: the learning curves, and a classifier's confusion matrix."""
    plots: dict[str, bytes] = {}
    curve = report.learning_curve_png(history)
    if curve:
        plots["Learning curves"] = curve
    metrics = evaluation.test or evaluation.validation or {}
    if task == "classification" and metrics.get("confusion_matrix"):
        plots["Confusion matrix"] = report.confusion_matrix_png(
            metrics["confusion_matrix"], evaluation.classes or []
        )
    return plots


def plots_of(
    config: JobConfig, trained: TrainResult, evaluation: Evaluation, plot_data: Any, tuning: Any
) -> dict[str, bytes]:
    """The run's plots by title: learning curves, confusion matrix or residuals and forecast,
    tuning trials."""
    plots = training_plots(config.base_task, trained.history, evaluation)
    if "Confusion matrix" not in plots and plot_data is not None:
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
