"""One trial: train the declared model with one point of the search space, report the objective.

Each trial trains in-process (one CPU, or its share of the worker's GPUs: `trial_resources`),
reports the validation objective (every epoch for networks, so ASHA and the median rule can
stop poor trials early) and keeps its best model as a Tune checkpoint (`TrialReporter`). On a
stop request a network trial saves its training state (`PartialStates`) and a trial of the
same configuration in a later attempt resumes from there.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kubetrain_trainer.models.train import ModelSpec
from kubetrain_trainer.preparation.preprocessors import Preprocessor
from kubetrain_trainer.preparation.spec import Arrays
from kubetrain_trainer.runtime.checkpoint import CheckpointPolicy, CheckpointStore, StopSignal
from kubetrain_trainer.runtime.storage import Storage
from kubetrain_trainer.tuning.space import TuneSpec, config_key, decode_params


@dataclass
class TrialContext:
    """What every trial needs; shipped once to the object store by `tune.with_parameters`."""

    task: str
    model: ModelSpec
    train: Arrays
    validation: Arrays
    preprocessor: Preprocessor
    objective: Any  # evaluation.metrics.Objective


def objective_value(ctx: TrialContext, pred: np.ndarray, proba: np.ndarray | None) -> float:
    """The objective on the validation rows, in the target's units; the worst value if undefined."""
    from kubetrain_trainer.evaluation.metrics import score

    arrays = ctx.validation
    if ctx.task == "classification":
        metrics = score(ctx.task, arrays.y, pred, proba, len(ctx.preprocessor.classes or []))
    else:
        inv = ctx.preprocessor.inverse_target
        metrics = score(ctx.task, inv(arrays.y, arrays.offset), inv(pred, arrays.offset))
    value = metrics.get(ctx.objective.metric)
    if value is None or not math.isfinite(value):
        return -math.inf if ctx.objective.direction == "maximize" else math.inf
    return float(value)


class TrialReporter:
    """Reports a trial's results to Tune and keeps its best model for the last report.

    Only the trial's last report carries a checkpoint (its best model so far): Tune's checkpoint
    persistence costs more than a small epoch. A trial the scheduler stops early leaves none,
    and cannot be the best one anyway.
    """

    def __init__(self, ctx: TrialContext) -> None:
        self.metric = ctx.objective.metric
        self.better: Callable[[float, float], bool] = ctx.objective.better
        self.best_value: float | None = None
        self.best_model: Any = None

    def report(self, value: float, epoch: int, model_fn: Callable[[], Any], last: bool) -> None:
        if self.best_value is None or self.better(value, self.best_value):
            self.best_value, self.best_model = value, model_fn()
        metrics = {"objective": value, self.metric: value, "epoch": epoch}
        self._send(metrics, with_model=last)

    def report_best(self, epoch: int) -> None:
        """Early stopping ended the trial before its last epoch: checkpoint the best now."""
        self._send(
            {"objective": self.best_value, self.metric: self.best_value, "epoch": epoch},
            with_model=True,
        )

    def _send(self, metrics: dict[str, Any], with_model: bool) -> None:
        from ray import tune

        if not with_model:
            tune.report(metrics)
            return
        import joblib

        with tempfile.TemporaryDirectory() as tmp:
            joblib.dump(self.best_model, Path(tmp) / "model.joblib")
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def run_trial(
    config: dict[str, Any],
    ctx: TrialContext,
    stop: StopSignal | None,
    partial: PartialStates | None,
) -> None:
    """One trial: train with this point of the search space, report the objective.

    A network trial polls `stop` between batches; on a stop request it saves its training
    state under `partial` (`<job>/tuning/<fingerprint>/partial`, keyed by its configuration)
    and ends, and a trial of the same configuration in a later attempt resumes from there.
    """
    spec = ctx.model.with_params(decode_params(config))
    reporter = TrialReporter(ctx)
    if spec.family == "sklearn":
        _sklearn_trial(spec, ctx, reporter)
    else:
        store = partial.store(config) if partial is not None else None
        _network_trial(spec, ctx, reporter, stop, store)


def _sklearn_trial(spec: ModelSpec, ctx: TrialContext, reporter: TrialReporter) -> None:
    from kubetrain_trainer.models.train import train

    result = train(spec, ctx.task, ctx.train, None, ctx.preprocessor)
    pred, proba = result.model.predict_arrays(ctx.validation.x)
    reporter.report(objective_value(ctx, pred, proba), 1, lambda: result.model, last=True)


def _network_trial(
    spec: ModelSpec,
    ctx: TrialContext,
    reporter: TrialReporter,
    stop: StopSignal | None,
    store: CheckpointStore | None,
) -> None:
    import ray

    from kubetrain_trainer.models.torch_train import (
        LoopHooks,
        fit_network,
        network_predict,
        pick_device,
    )
    from kubetrain_trainer.models.train import build_network_def
    from kubetrain_trainer.predict import TrainedModel

    definition = build_network_def(spec, ctx.task, ctx.preprocessor, ctx.train)
    current: dict[str, Any] = {}  # the module being trained, as fit_network wraps it
    epochs = spec.training.epochs

    def on_epoch(record: dict[str, Any], val_out: np.ndarray | None) -> None:
        weights = current["model"].state_dict().items()
        state = {k: v.detach().to("cpu", copy=True) for k, v in weights}
        pred, proba = network_predict(definition, state, ctx.task, ctx.validation.x)

        def model_fn() -> TrainedModel:
            return TrainedModel(
                ctx.task, "torch", ctx.preprocessor, network=definition, state_dict=state
            )

        value = objective_value(ctx, pred, proba)
        reporter.report(value, record["epoch"], model_fn, last=record["epoch"] >= epochs)

    outcome = fit_network(
        ctx.task, definition, spec.training, ctx.train, ctx.validation, seed=spec.seed,
        hooks=LoopHooks(on_epoch=on_epoch, stop=stop, checkpoints=store),
        device=pick_device(use_gpu=bool(ray.get_gpu_ids())),
        wrap_model=lambda m: current.setdefault("model", m),
    )  # fmt: skip
    if outcome.stopped_early:  # early stopping ended it before the last epoch: checkpoint now
        reporter.report_best(outcome.history[-1]["epoch"] if outcome.history else 0)


@dataclass(frozen=True)
class PartialStates:
    """Where stopped trials keep their training state (`<job>/tuning/<fingerprint>/partial`),
    and the attempt that writes there."""

    storage: Storage
    attempt: str

    def store(self, config: dict[str, Any]) -> CheckpointStore:
        """The checkpoints of trials of `config`: saved on SIGTERM, resumed by a later trial."""
        key = hashlib.sha256(config_key(config).encode()).hexdigest()[:16]
        # No periodic saves (one per epoch per trial costs more than the epoch): SIGTERM only.
        policy = CheckpointPolicy(every_epochs=None)
        return CheckpointStore(self.storage.child(key), self.attempt, key, policy, keep=1)


def trial_resources(
    spec: TuneSpec, model: ModelSpec, cluster: dict[str, float]
) -> dict[str, float]:
    """What one trial asks Ray for, from the compute spec and the Ray cluster it runs on.

    `compute.workers` pods of equal size (`cluster` / workers CPUs each, `gpusPerWorker` GPUs
    each) share `parallelTrials` trials: a trial gets a whole number of its worker's CPUs (at
    least one) and its share of the worker's GPUs. GPUs are asked for only when the cluster
    has some (a laptop's Ray has none: there trials train on the CPU, as Ray Train does).
    """
    workers = max(1, int(model.workers))
    sharing = max(1, math.ceil(spec.parallel_trials / workers))
    cpus_per_worker = float(cluster.get("CPU", 1.0)) / workers
    resources = {"cpu": float(max(1, math.floor(cpus_per_worker / sharing)))}
    gpus = float(model.gpus_per_worker or 0)
    if gpus > 0 and float(cluster.get("GPU", 0.0)) > 0:
        resources["gpu"] = gpus / sharing if gpus >= 1 else gpus
    return resources
