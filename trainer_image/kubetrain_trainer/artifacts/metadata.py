"""metadata.json: what the attempt read, trained and used, for the report and the operator."""

from __future__ import annotations

import dataclasses
from typing import Any

from kubetrain_trainer.artifacts import files
from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.data.load import LoadedData
from kubetrain_trainer.models.stage import Training
from kubetrain_trainer.preparation.spec import PreparedData
from kubetrain_trainer.runtime.clock import StageClock
from kubetrain_trainer.runtime.context import RunContext
from kubetrain_trainer.tuning.results import TuningResult


def metadata(
    config: JobConfig,
    context: RunContext,
    data: LoadedData,
    prepared: PreparedData,
    training: Training,
    tuning: TuningResult | None,
    data_path: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything metadata.json holds but the durations and compute (`add_usage`, at the end).

    `data_path`: which data path the attempt took and why (`kubetrain_trainer.distributed`)."""
    spec, trained = training.spec, training.result
    return {
        "job": context.job,
        "namespace": context.namespace,
        "attempt": context.attempt,
        "data": {"path": data_path, **_data(data, prepared)}
        if data_path
        else _data(data, prepared),
        "model": {
            "name": spec.name,
            "family": spec.family,
            "hyperparameters": spec.hyperparameters,
            "training": dataclasses.asdict(spec.training) if spec.family == "torch" else None,
        },
        "seed": spec.seed,
        "libraries": files.library_versions(),
        "training": {
            "epochsRun": trained.epochs_run,
            "resumedFromEpoch": trained.resumed_from_epoch,
            "resumedFromAttempt": trained.resumed_from_attempt,
            "stoppedEarly": trained.stopped_early,
            "device": trained.device,
            "workers": trained.workers,
            "checkpoints": training.checkpoints.saved,
        },
        "tuning": tuning.summary() if tuning and config.tuning else None,
        "selection": selection_summary(config, tuning),
    }


def add_usage(metadata: dict[str, Any], training: Training, clock: StageClock) -> None:
    """Seconds per stage, and the compute the attempt used (GPU-seconds of training only)."""
    wall, trained = clock.wall(), training.result
    gpus = training.spec.gpus_per_worker * trained.workers if trained.device == "cuda" else 0
    metadata["durations"] = {**clock.stages, "total": round(wall, 3)}
    metadata["computeUsed"] = {
        "durationSeconds": round(wall, 3),
        "cpuSeconds": round(clock.cpu(), 3),
        "gpuSeconds": round(gpus * clock.stages.get("training", 0.0), 3),
    }


def _data(data: LoadedData, prepared: PreparedData) -> dict[str, Any]:
    return {
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
    }


def selection_summary(config: JobConfig, result: TuningResult | None) -> dict[str, Any] | None:
    """Automatic selection: every candidate ranked by its best trial's objective."""
    if config.auto is None or result is None:
        return None
    from kubetrain_trainer.tuning.auto import ranking

    return {
        "metric": config.objective.metric,
        "split": "validation",
        "candidates": ranking(result, config.auto.models, config.objective.mode),
        **result.summary(),
    }


def _rows_read(data: LoadedData) -> dict[str, int]:
    frames = {"train": data.train, "validation": data.validation, "test": data.test}
    return {name: len(frame) for name, frame in frames.items() if frame is not None}
