"""Stage 3c, data-parallel PyTorch training on Ray Train (v2 API: `TorchTrainer`).

Each worker runs `torch_train.fit_network` on its own shard (rank r takes every world-size-th
row) with the model wrapped in DistributedDataParallel by `ray.train.torch.prepare_model`, so
gradients are averaged across workers every step. The per-worker batch is the declared batch
size divided by the number of workers, which keeps the effective batch — and the quality —
the same as one worker's. Every worker evaluates the full validation set, so early stopping
decides the same way everywhere. Only rank 0 writes checkpoints and progress; the final weights
come back to the driver as a Ray Train checkpoint.

When a worker raises, Ray Train v2's `trainer.fit()` raises a `WorkerGroupError` whose
`worker_failures` maps each failed rank to its exception (the traceback travels only as text in
the error's message). `describe_failure` turns that into the one paragraph the user sees: the
rank, the exception's type and message, and the last frame outside the libraries (our network's
`forward`, the training loop, or the user's code), so the termination message names the cause
rather than "Training failed due to worker errors:".
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from kubetrain_trainer.errors import Interrupted, TrainerError
from kubetrain_trainer.models.catalogue import NetworkDef
from kubetrain_trainer.models.torch_train import LoopHooks, NetworkOutcome
from kubetrain_trainer.preparation.spec import Arrays
from kubetrain_trainer.runtime.storage import CREDENTIAL_ENV, S3Storage, Storage


def _worker_loop(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch
    import torch

    from kubetrain_trainer.models.torch_train import fit_network

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    given: LoopHooks = config["hooks"]

    def on_epoch(record: dict[str, Any], _: Any) -> None:
        ray.train.report({k: v for k, v in record.items() if isinstance(v, int | float)})

    hooks = LoopHooks(
        checkpoints=given.checkpoints if rank == 0 else None,
        resume=given.checkpoints if rank != 0 else None,
        progress=given.progress if rank == 0 else None,
        stop=given.stop,
        on_epoch=on_epoch,
    )
    outcome = fit_network(
        config["task"], config["definition"], config["training"], config["train"],
        config["validation"], seed=config["seed"], hooks=hooks,
        device=str(ray.train.torch.get_device()), rank=rank, world_size=world,
        wrap_model=ray.train.torch.prepare_model,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:
            torch.save(outcome, Path(tmp) / "outcome.pt")
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report({"done": 1}, checkpoint=checkpoint)


def fit_distributed(
    task: str,
    definition: NetworkDef,
    spec: Any,  # train.ModelSpec
    train: Arrays,
    validation: Arrays | None,
    hooks: LoopHooks,
) -> NetworkOutcome:
    import ray
    import torch
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    use_gpu = spec.gpus_per_worker > 0 and torch.cuda.is_available()
    # On a small Ray cluster (a laptop's local Ray) the workers share the CPUs there are rather
    # than waiting forever for a whole CPU each.
    cluster = ray.cluster_resources()  # type: ignore[no-untyped-call]
    cpu_per_worker = min(1.0, float(cluster.get("CPU", 1)) / spec.workers)
    with tempfile.TemporaryDirectory(prefix="kubetrain-ray-train-") as tmp:
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config={
                "task": task,
                "definition": definition,
                "training": spec.training,
                "train": train,
                "validation": validation,
                "seed": spec.seed,
                "hooks": hooks,
            },
            scaling_config=ScalingConfig(
                num_workers=spec.workers,
                use_gpu=use_gpu,
                resources_per_worker={
                    "CPU": cpu_per_worker,
                    **({"GPU": spec.gpus_per_worker} if use_gpu else {}),
                },
            ),
            run_config=RunConfig(name="training", **_run_storage(hooks, tmp)),
        )
        if hooks.stop is not None:
            hooks.stop.reclaim()
        try:
            result = trainer.fit()
        except Exception as exc:
            if _interrupted(exc) or (hooks.stop is not None and hooks.stop.requested()):
                raise Interrupted(
                    f"stopped by SIGTERM; all {spec.workers} ranks stopped together and rank 0 "
                    "wrote the checkpoint they share."
                ) from exc
            raise TrainerError(f"distributed training failed: {describe_failure(exc)}") from exc
        if result.checkpoint is None:
            raise TrainerError("distributed training returned no model.")
        with result.checkpoint.as_directory() as directory:
            outcome: NetworkOutcome = torch.load(
                Path(directory) / "outcome.pt", map_location="cpu", weights_only=False
            )
    outcome.device = "cuda" if use_gpu else "cpu"
    return outcome


RAY_S3_ATTEMPTS = 12
"""About two minutes of exponential backoff (capped at 20 s per wait, AWS's standard)."""


def ray_storage(store: Storage | None, local: str, *parts: str) -> dict[str, Any]:
    """Where Ray Train or Ray Tune keeps its run: a place every node can reach.

    On a multi-node Ray cluster (the operator's head and worker pods) a local directory exists
    on one node only, and Ray refuses a checkpoint that a worker on another node wrote there;
    so a run of a job with an S3 store lives at `parts` below `store`, through a pyarrow S3
    file system. `local` (a temporary directory) otherwise, e.g. `kubetrain run --output DIR`.
    The `RunConfig` arguments: `storage_path` and, for S3, `storage_filesystem`.
    """
    if not isinstance(store, S3Storage):
        return {"storage_path": local}
    import pyarrow.fs

    settings = store.settings
    if settings.credential_env != CREDENTIAL_ENV or not settings.credentials_in_env():
        raise TrainerError(
            f"Ray keeps its run in {store.uri} and reads the S3 credentials from "
            f"{' and '.join(settings.credential_env)} in the environment, which do not hold "
            "this store's credentials."
        )
    scheme, _, host = (settings.endpoint or "").partition("://")
    # No explicit keys: pyarrow then takes them from the environment (the AWS default chain)
    # in every process, and leaves them out of the pickle that Ray ships to other pods and
    # writes into the store (tuner.pkl); explicit keys would travel in both.
    filesystem = pyarrow.fs.S3FileSystem(
        region=settings.region,
        # Ray writes checkpoints here from every pod: ride out a store that is away for a while,
        # as the trainer's own writes do (storage.py).
        retry_strategy=pyarrow.fs.AwsStandardS3RetryStrategy(max_attempts=RAY_S3_ATTEMPTS),
        endpoint_override=host or None,
        scheme=scheme or "https",
    )
    path = "/".join(p.strip("/") for p in (store.bucket, store.prefix, *parts) if p)
    return {"storage_path": path, "storage_filesystem": filesystem}


def _run_storage(hooks: LoopHooks, local: str) -> dict[str, Any]:
    """Ray Train's run of this attempt: `<job>/ray-train/<attempt>` in the job's store."""
    job = getattr(hooks.checkpoints, "job", None)
    attempt = str(getattr(hooks.checkpoints, "attempt", "0"))
    return ray_storage(job, local, "ray-train", attempt)


def _interrupted(exc: BaseException) -> bool:
    """Whether the ranks stopped for a SIGTERM (each raised `Interrupted`)."""
    failures = getattr(exc, "worker_failures", None) or {}
    return bool(failures) and all(isinstance(e, Interrupted) for e in failures.values())


_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<name>\S+)')
_RANK_SECTION = re.compile(r"\[Rank (?P<ranks>[\d,]+) Error Snippet\]:\n")
# A rank that fails because a peer died reports a collective-communication error; the peer's
# own exception is the cause worth naming.
_PEER_SYMPTOMS = ("gloo", "nccl", "connection closed", "connection reset", "broken pipe")


def describe_failure(exc: BaseException) -> str:
    """One line naming the root cause of a failed `trainer.fit()`.

    `WorkerGroupError.worker_failures` (rank → exception) and `ControllerError.controller_failure`
    carry the real exceptions; anything else is described by its own type and first line.
    """
    failures: dict[int, BaseException] = getattr(exc, "worker_failures", None) or {}
    if not failures:
        cause = getattr(exc, "controller_failure", None)
        if isinstance(cause, BaseException):
            return f"the Ray Train controller raised {_exception_line(cause)}"
        return _exception_line(exc)
    rank = min(failures, key=lambda r: (_is_peer_symptom(failures[r]), r))
    text = f"worker rank {rank} raised {_exception_line(failures[rank])}"
    frame = _last_own_frame(_rank_traceback(str(exc), rank))
    if frame:
        text += f" (at {frame})"
    if len(failures) > 1:
        others = ", ".join(str(r) for r in sorted(failures) if r != rank)
        text += f"; rank(s) {others} failed too"
    return text


def _exception_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _is_peer_symptom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(symptom in text for symptom in _PEER_SYMPTOMS)


def _rank_traceback(message: str, rank: int) -> str:
    """The traceback text of `rank` in a WorkerGroupError's message ("[Rank 0,2 Error Snippet]")."""
    sections = _RANK_SECTION.split(message)
    # split → [before, ranks, body, ranks, body, ...]
    for ranks, body in zip(sections[1::2], sections[2::2], strict=False):
        if str(rank) in ranks.split(","):
            return body
    return message


def _last_own_frame(traceback_text: str) -> str | None:
    """`file.py:LINE in function` of the innermost frame that is not a library's."""
    own = None
    for match in _FRAME.finditer(traceback_text):
        path = match["path"]
        library = "site-packages" in path or "dist-packages" in path or "/lib/python3" in path
        if "kubetrain_trainer" in path or not library:
            own = f"{Path(path).name}:{match['line']} in {match['name']}"
    return own
