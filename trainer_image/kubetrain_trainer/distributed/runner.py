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


def _node_cpus() -> list[float]:
    """The CPUs of each live node of the Ray cluster (`ray.nodes` is untyped)."""
    import ray

    nodes: Callable[[], list[dict[str, Any]]] = ray.nodes
    return [float(n["Resources"].get("CPU", 0)) for n in nodes() if n.get("Alive")]


WORKER_CPU_SHARES = (1.0, 0.5, 1 / 3, 0.25, 0.2, 0.1)


def worker_cpus(node_cpus: list[float], workers: int) -> float:
    """The CPUs each Ray Train worker asks for: the largest share that lets every worker fit
    while one node keeps a whole CPU free.

    The workers' shards are read and prepared by Ray Data tasks while they train, and each such
    task asks for one whole CPU: with none free on any node, every worker waits forever for
    its first batch. Ray Train packs the workers' bundles onto as few nodes as it can, so the
    free CPU is reserved on the largest node (a job with three one-CPU pods: a half CPU per
    worker, two workers on one node, the third node free for the data tasks)."""
    capacity = sorted(node_cpus or [1.0], reverse=True)
    capacity[0] -= 1
    for share in WORKER_CPU_SHARES:
        if sum(int(c / share + 1e-9) for c in capacity if c > 0) >= workers:
            return share
    return WORKER_CPU_SHARES[-1]


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
    cpu = worker_cpus(_node_cpus(), spec.workers)
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
