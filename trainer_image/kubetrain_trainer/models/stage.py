"""The training stage's entry point: fit the selected model, resuming from checkpoints.

`fit` takes the `tuning.stage.Selection` of stage 3 and the prepared data of stage 2 and
returns a `Training`: the model spec as trained, the `TrainResult` and the checkpoint store
(metadata lists what it saved). When the best trial's model is the final model, nothing is
trained again. `finalModel: retrain` trains on training and validation rows together, for the
best trial's epochs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.data.load import LoadedData
from kubetrain_trainer.models.fingerprint import fingerprint
from kubetrain_trainer.models.torch_train import LoopHooks
from kubetrain_trainer.models.train import ModelSpec, TrainResult, train
from kubetrain_trainer.preparation.spec import Arrays, PreparedData
from kubetrain_trainer.runtime.checkpoint import CheckpointStore
from kubetrain_trainer.runtime.clock import StageClock
from kubetrain_trainer.runtime.context import RunContext
from kubetrain_trainer.runtime.progress import ProgressReporter
from kubetrain_trainer.tuning.stage import Selection


@dataclass
class Training:
    """The trained model, the spec it was trained with, and the checkpoints saved meanwhile."""

    spec: ModelSpec
    result: TrainResult
    checkpoints: CheckpointStore


def fit(
    config: JobConfig,
    context: RunContext,
    data: LoadedData,
    prepared: PreparedData,
    selection: Selection,
    progress: ProgressReporter,
    clock: StageClock,
) -> Training:
    spec = selection.model
    retrain = config.tuning is not None and config.tuning.final_model == "retrain"
    # Networks checkpoint epochs; a scikit-learn fit saves the fitted model (both resume).
    checkpoints = CheckpointStore(
        context.job_storage, context.attempt,
        fingerprint(data.content_hash, spec, config,
                    fitOn="train+validation" if retrain else "train"),
        config.checkpoint, keep=config.checkpoints_to_keep, data_hash=data.content_hash,
    )  # fmt: skip
    if selection.kept is not None:
        return Training(spec, selection.kept, checkpoints)
    if spec.workers > 1 or spec.gpus_per_worker:
        context.ensure_ray()
    hooks = LoopHooks(checkpoints=checkpoints, progress=progress, stop=context.stop)
    with clock.stage("training"):
        train_arrays, val_arrays = prepared.train, prepared.validation
        if retrain and selection.tuning is not None:
            # Retrain on training + validation together, for the best trial's epochs.
            train_arrays, val_arrays = _merge(prepared.train, prepared.validation), None
            spec = _for_epochs(spec, selection.tuning.best_epoch)
        result = train(
            spec, config.base_task, train_arrays, val_arrays, prepared.preprocessor, hooks
        )
    return Training(spec, result, checkpoints)


def _for_epochs(spec: ModelSpec, epochs: int | None) -> ModelSpec:
    """A network retrained for the best trial's epochs, without early stopping."""
    if not epochs or spec.family != "torch":
        return spec
    training = dataclasses.replace(spec.training, epochs=epochs, patience=None)
    return dataclasses.replace(spec, training=training)


def _merge(a: Arrays, b: Arrays | None) -> Arrays:
    if b is None:
        return a
    offset = None
    if a.offset is not None and b.offset is not None:
        offset = np.concatenate([a.offset, b.offset])
    return Arrays(np.concatenate([a.x, b.x]), np.concatenate([a.y, b.y]), offset)
