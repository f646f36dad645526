"""One attempt of a job on the `ray-data` path: read, prepare, train, evaluate, write.

The stages are the workflow's, in their distributed form: `source.open_source` (lazy Ray
Datasets), `statistics.summarise` (one distributed pass) and `StreamingPreprocessor`, the
prepared Datasets (`map_batches`), training on shards (`networks` or `boosting`), sharded
`evaluation`, and the same artifacts as the in-memory path (`model/`, metrics, metadata, report)
so that loading, prediction and the operator's status read them alike. The metadata adds the
data path and why it was chosen, the statistics' approximations, the memory limit per worker,
and each worker's counters: rows and bytes of its shard, the sum of its rows' hashes, its
largest batch and its peak resident memory.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kubetrain.api.contract import Files
from kubetrain.quantity import parse_quantity
from kubetrain_trainer.artifacts import files as artifacts
from kubetrain_trainer.artifacts import report
from kubetrain_trainer.artifacts.write import training_plots
from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.distributed import DataPath, workers
from kubetrain_trainer.distributed.evaluation import evaluate
from kubetrain_trainer.distributed.preprocessor import PrepareBlock, StreamingPreprocessor
from kubetrain_trainer.distributed.source import Source, open_source
from kubetrain_trainer.distributed.statistics import Partial, layout_of, summarise
from kubetrain_trainer.errors import InvalidSpecError
from kubetrain_trainer.evaluation.metrics import Evaluation, check_objective
from kubetrain_trainer.models.catalogue import network_def
from kubetrain_trainer.predict import TrainedModel
from kubetrain_trainer.result import JobResult
from kubetrain_trainer.runtime.context import RunContext


def quantity_bytes(value: Any) -> int | None:
    """A Kubernetes memory quantity ("512Mi", "2G", 1000000) in bytes; None if it is not one."""
    if value is None:
        return None
    try:
        return int(parse_quantity(value))
    except ValueError:
        return None


_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_limit(spec: dict[str, Any]) -> int | None:
    """The memory per worker, in bytes: `compute.resources.memory` when the spec declares it,
    else this pod's cgroup limit (a profile's workers have the same), else None."""
    resources = (spec.get("spec", spec).get("compute") or {}).get("resources") or {}
    declared = quantity_bytes(resources.get("memory"))
    if declared:
        return declared
    for path in _CGROUP_LIMITS:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" or a huge number: no limit
            return int(text)
    return None


def _train(config: Any, pre: StreamingPreprocessor, datasets: dict[str, Any], store: Any,
           batch_rows: int, storage: dict[str, Any], name: str) -> TrainedModel:  # fmt: skip
    spec, task = config.model, config.base_task
    n_classes = len(pre.classes or [])
    if spec.name in ("xgboost", "lightgbm"):
        from kubetrain_trainer.distributed.boosting import fit_booster

        booster = fit_booster(spec.name, task, spec, n_classes, datasets, store, batch_rows,
                              storage, name)  # fmt: skip
        return TrainedModel(task=task, family="sklearn", preprocessor=pre, estimator=booster)
    from kubetrain_trainer.distributed.networks import fit_network

    definition = network_def(
        spec.name, spec.hyperparameters, n_inputs=len(pre.feature_names),
        n_outputs=n_classes if task == "classification" else 1,
        dropout=spec.training.dropout, image_shape=None, vocab_size=0,
    )  # fmt: skip
    per_worker = max(1, -(-spec.training.batch_size // spec.workers))
    state, history = fit_network(definition, task, spec, datasets, store,
                                 min(batch_rows, per_worker), storage, name)  # fmt: skip
    model = TrainedModel(task=task, family="torch", preprocessor=pre, network=definition,
                         state_dict=state)  # fmt: skip
    model.history = history  # type: ignore[attr-defined]
    return model


def _fingerprint(config: Any, source: Source) -> str:
    import hashlib
    import json

    spec = config.model
    shape = {
        "data": source.fingerprint,
        "model": spec.name,
        "hyperparameters": spec.hyperparameters,
        "training": dataclasses.asdict(spec.training),
        "preparation": dataclasses.asdict(config.preparation),
        "workers": spec.workers,
        "strategy": spec.strategy,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class _Prepared:
    source: Source
    stats: Partial
    preprocessor: StreamingPreprocessor
    datasets: dict[str, Any]  # split → prepared Dataset ({"x", "y", "row_hash"} rows)


def _read_and_prepare(config: Any) -> _Prepared:
    prep = config.preparation
    source = open_source(config.data, config.data_s3, prep.validation, prep.test, prep.seed)
    layout = layout_of(source.schema, prep.target, config.base_task, prep.columns)
    stats = summarise(source.tagged, layout, prep.seed)
    pre = StreamingPreprocessor(prep, layout).fit(stats)
    splits = (("train", source.train), ("validation", source.validation), ("test", source.test))
    datasets = {
        name: ds.map_batches(PrepareBlock(pre), batch_format="pandas")
        for name, ds in splits
        if ds is not None
    }
    return _Prepared(source, stats, pre, datasets)


def _score(config: Any, model: TrainedModel, ready: _Prepared) -> tuple[Evaluation, dict[str, int]]:
    pre = ready.preprocessor
    n_classes = len(pre.classes or [])
    scores: dict[str, dict[str, Any]] = {}
    rows: dict[str, int] = {}
    for name, ds in ready.datasets.items():
        scores[name], rows[name] = evaluate(model, ds, config.base_task, n_classes)
    held = scores.get("test") or scores.get("validation") or scores["train"]
    evaluation = Evaluation(
        task=config.task, test=scores.get("test", {}), train=scores["train"],
        validation=scores.get("validation"), objective=check_objective(held, config.objective),
        classes=[str(c) for c in pre.classes] if pre.classes else None,
    )  # fmt: skip
    return evaluation, rows


def _data_metadata(
    config: Any, path: DataPath, ready: _Prepared, rows: dict[str, int], limit: int | None,
    per_worker: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    source, stats = ready.source, ready.stats
    dropped = {"missing_target": stats.missing_target}
    if config.preparation.missing == "drop":
        dropped["missing_values"] = stats.incomplete_rows
    return {
        "path": path.to_json(),
        "description": source.description,
        "contentHash": source.fingerprint,
        "contentHashOf": "each file's path, size and modification time",
        "bytesRead": source.bytes,
        "files": source.files,
        "rowsRead": {"train": stats.rows},
        "rowsDropped": dropped,
        "rows": rows,
        "statistics": {
            "approximate": ready.preprocessor.approximate,
            "trainRowBytes": stats.bytes,
        },
        "memoryLimitBytesPerWorker": limit,
        "workers": per_worker,
    }


def run(config: JobConfig, context: RunContext, path: DataPath) -> JobResult:
    """One attempt of the job on the Ray Data path."""
    from kubetrain_trainer.models.ray_train import ray_storage
    from kubetrain_trainer.runtime.progress import ProgressReporter

    started, stages = time.monotonic(), {}
    out, spec = context.attempt_storage, config.model
    if spec is None:  # `distributed.choose` sends only built-in models here
        raise InvalidSpecError("custom code runs through kubetrain_trainer.custom, not here.")
    progress = ProgressReporter(
        out, attempt=context.attempt, min_interval=context.progress_interval,
        echo=context.echo_progress,
    )  # fmt: skip
    progress.update("data", force=True)
    context.ensure_ray()
    clock = time.monotonic()
    ready = _read_and_prepare(config)
    stages["data+preparation"] = round(time.monotonic() - clock, 3)

    progress.update("training")
    clock = time.monotonic()
    limit = memory_limit(config.spec)
    row_bytes = 4 * len(ready.preprocessor.feature_names) + 16
    batch_rows = workers.batch_rows_for(limit, row_bytes, 4096)
    run_name = f"run-{_fingerprint(config, ready.source)}"
    storage = ray_storage(context.job_storage, f"{context.job_storage.uri}/ray-data", "ray-data")
    training = {k: v for k, v in ready.datasets.items() if k in ("train", "validation")}
    model = _train(config, ready.preprocessor, training, out, batch_rows, storage, run_name)
    per_worker = workers.collect(out, spec.workers)
    stages["training"] = round(time.monotonic() - clock, 3)

    progress.update("evaluation")
    clock = time.monotonic()
    evaluation, rows = _score(config, model, ready)
    stages["evaluation"] = round(time.monotonic() - clock, 3)

    progress.update("artifacts")
    history = getattr(model, "history", [])
    metadata = {
        "job": context.job, "namespace": context.namespace, "attempt": context.attempt,
        "data": _data_metadata(config, path, ready, rows, limit, per_worker),
        "model": {"name": spec.name, "family": model.family,
                  "hyperparameters": spec.hyperparameters},
        "seed": spec.seed,
        "libraries": artifacts.library_versions(),
        "training": {
            "epochsRun": len(history), "workers": spec.workers, "strategy": spec.strategy,
            "device": "cuda" if spec.gpus_per_worker else "cpu", "batchRowsPerWorker": batch_rows,
            "rayRun": run_name, "resumedFromEpoch": _resumed_from(per_worker),
        },
        "durations": {**stages, "total": round(time.monotonic() - started, 3)},
    }  # fmt: skip
    result = _write(config, context, model, evaluation, metadata, ready)
    progress.update("done", force=True, best=(config.objective.metric, evaluation.objective.value))
    return result


def _resumed_from(per_worker: list[dict[str, Any]]) -> int | None:
    """The epoch (a booster's: its boosting round) the run's checkpoint had reached when this
    attempt started, as the in-memory path's `resumedFromEpoch`; None for a fresh start."""
    done = max((int(w.get("resumedFrom", 0)) for w in per_worker), default=0)
    return done or None


def _write(config: Any, context: Any, model: TrainedModel, evaluation: Evaluation,
           metadata: dict[str, Any], ready: _Prepared) -> JobResult:  # fmt: skip
    """model/, metrics, spec, metadata, plots and the report: the in-memory path's artifacts."""
    out = context.attempt_storage
    files = artifacts.save_model(out, model, _probe(ready.datasets))
    files.append(artifacts.write_json(out, Files.METRICS, evaluation.to_json()))
    files.append(artifacts.write_json(out, Files.SPEC, config.spec))
    files.append(artifacts.write_json(out, Files.METADATA, metadata))
    plots = training_plots(config.base_task, getattr(model, "history", []), evaluation)
    files += artifacts.write_plots(out, plots)
    html = report.html_report(
        title=f"{context.namespace}/{context.job} attempt {context.attempt}",
        metrics=evaluation.to_json(), metadata=metadata, spec=config.spec, plots=plots,
    )  # fmt: skip
    out.write_bytes(Files.REPORT, html)
    files.append(Files.REPORT)
    return JobResult(
        evaluation=evaluation, artifact_uri=out.uri, report_uri=f"{out.uri}/{Files.REPORT}",
        metadata=metadata, files=files,
    )  # fmt: skip


def _probe(prepared: dict[str, Any]) -> np.ndarray:
    held = prepared.get("test") or prepared.get("validation") or prepared["train"]
    return np.asarray(held.take_batch(32, batch_format="numpy")["x"])
