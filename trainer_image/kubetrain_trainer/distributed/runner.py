"""Launching a Ray Train run over Ray Datasets: the trainer of each family, one way.

`run_trainer(kind, loop, ...)` builds the Ray Train v2 trainer for `kind` (`TorchTrainer` for
networks, `XGBoostTrainer`, `LightGBMTrainer`), hands it the prepared Datasets — Ray Train
splits each one into disjoint, equal streaming shards, one per worker — and runs it with its
checkpoints in the job's store under a name derived from what the run depends on: a later
attempt with the same name finds the run's latest checkpoint there and goes on from it
(`ray.train.get_checkpoint()` in the loop). A failure is described as `ray_train` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubetrain_trainer.errors import Interrupted, TrainerError


def _cluster(resource: str) -> float:
    """How much of `resource` the Ray cluster has (`ray.cluster_resources` is untyped)."""
    import ray

    resources: Callable[[], dict[str, float]] = ray.cluster_resources
    return float(resources().get(resource, 0))


def use_gpu(gpus_per_worker: float) -> bool:
    return gpus_per_worker > 0 and _cluster("GPU") > 0


def _trainer_class(kind: str) -> Any:
    if kind == "xgboost":
        from ray.train.xgboost import XGBoostTrainer

        return XGBoostTrainer
    if kind == "lightgbm":
        from ray.train.lightgbm import LightGBMTrainer

        return LightGBMTrainer
    from ray.train.torch import TorchTrainer

    return TorchTrainer


def run_trainer(
    kind: str,
    loop: Any,
    loop_config: dict[str, Any],
    datasets: dict[str, Any],
    spec: Any,  # train.ModelSpec
    storage: dict[str, Any],
    name: str,
) -> Any:
    """`trainer.fit()`'s result; `storage`: `ray_train.ray_storage(...)`'s RunConfig arguments."""
    from ray.train import RunConfig, ScalingConfig

    from kubetrain_trainer.models.ray_train import describe_failure

    gpu = use_gpu(spec.gpus_per_worker)
    # The workers' shards are read and prepared by Ray Data tasks while they train: on a small
    # Ray (a laptop's local Ray) the workers share what is left after one CPU for those tasks,
    # or nothing would be left to produce their batches and every worker would wait forever.
    total = _cluster("CPU") or 1.0
    cpu = max(0.1, min(1.0, (total - 1) / spec.workers))
    trainer = _trainer_class(kind)(
        loop,
        train_loop_config=loop_config,
        datasets=datasets,
        scaling_config=ScalingConfig(
            num_workers=spec.workers,
            use_gpu=gpu,
            resources_per_worker={"CPU": cpu, **({"GPU": spec.gpus_per_worker} if gpu else {})},
        ),
        run_config=RunConfig(name=name, **storage),
    )
    try:
        return trainer.fit()
    except Exception as exc:
        failures = getattr(exc, "worker_failures", None) or {}
        if failures and all(isinstance(e, Interrupted) for e in failures.values()):
            raise Interrupted("stopped by SIGTERM; the run's last checkpoint is kept.") from exc
        raise TrainerError(f"distributed training failed: {describe_failure(exc)}") from exc
