"""Distributed XGBoost and LightGBM on streamed shards (Ray Train's XGBoost/LightGBM trainers).

XGBoost: each worker feeds its shard batch by batch into a `QuantileDMatrix` through a
`DataIter` (later passes from a local `Spool` of the first), so it keeps the quantised
histogram bins (a byte or two per value) in memory rather than the rows; the workers'
quantile sketches and histograms are all-reduced by XGBoost's collective,
which Ray Train's `XGBoostConfig` sets up. LightGBM: each worker builds its `Dataset` from its
own shard only (`tree_learner: data_parallel`, `pre_partition`) through `lightgbm.Sequence`s
over the same spool, memory-mapped, so it too keeps its bins rather than its rows.

The hyperparameters are the catalogue's (scikit-learn names); both libraries read those names
as aliases of their own. Ray Train's report callbacks checkpoint the booster every
`CHECKPOINT_EVERY` rounds into the job's store; a resumed run continues from the latest one.
`BoosterModel` makes the booster look like a fitted scikit-learn estimator, so the saved model,
its loading and batch prediction are the single-worker path's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kubetrain_trainer.distributed.workers import ShardReader, publish

CHECKPOINT_EVERY = 10


class BoosterModel:
    """A trained booster behind `predict` / `predict_proba` (what `TrainedModel` calls)."""

    def __init__(self, library: str, booster: Any, task: str, n_classes: int) -> None:
        self.library, self.booster, self.task, self.n_classes = library, booster, task, n_classes
        self.classes_ = list(range(n_classes))

    def _raw(self, x: np.ndarray) -> np.ndarray:
        if self.library == "xgboost":
            import xgboost

            return np.asarray(self.booster.predict(xgboost.DMatrix(x)))
        return np.asarray(self.booster.predict(x))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        raw = self._raw(x)
        return np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return np.asarray(self.predict_proba(x).argmax(axis=1))
        return self._raw(x)


def params_of(library: str, task: str, hyper: dict[str, Any], n_classes: int, seed: int,
              gpu: bool) -> tuple[dict[str, Any], int]:  # fmt: skip
    """(library parameters, boosting rounds) from the catalogue's hyperparameters."""
    params = dict(hyper)
    rounds = int(params.pop("n_estimators", 200))
    binary = task == "classification" and n_classes == 2
    if library == "xgboost":
        objective = "binary:logistic" if binary else "multi:softprob"
        params.update(tree_method="hist", seed=seed, device="cuda" if gpu else "cpu")
    else:
        objective = "binary" if binary else "multiclass"
        params.update(seed=seed, verbosity=-1, num_threads=1)
        if gpu:
            params["device_type"] = "gpu"
        if params.get("subsample", 1.0) < 1.0:
            params.setdefault("subsample_freq", 1)
    if task != "classification":
        objective = "reg:squarederror" if library == "xgboost" else "regression"
    params["objective"] = objective
    if task == "classification" and not binary:
        params["num_class"] = n_classes
    return params, rounds


class Spool:
    """A worker's shard, spooled to local disk batch by batch on the first pass and read back
    from there on the later ones.

    XGBoost reads its input several times (the quantile sketch, then the bins) and takes the
    labels from the first pass: every pass must bring the same rows in the same order. Ray
    Data's streaming split may hand a worker other blocks in its next epoch, so only the first
    pass reads the shard; the disk holds it (not memory), and it is deleted after training.
    """

    def __init__(self, reader: ShardReader, directory: Path) -> None:
        self.reader, self.directory, self.count = reader, directory, -1

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        if self.count >= 0:
            for i in range(self.count):
                yield {k: np.load(self.directory / f"{i}-{k}.npy") for k in ("x", "y")}
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        count = 0
        for batch in self.reader.batches():
            for k in ("x", "y"):
                np.save(self.directory / f"{count}-{k}.npy", batch[k])
            count += 1
            yield batch
        self.count = count


def _xgboost_matrix(spool: Spool, ref: Any = None) -> Any:
    import xgboost

    class Batches(xgboost.DataIter):
        def __init__(self) -> None:
            self.iterator: Iterator[dict[str, np.ndarray]] | None = None
            super().__init__()

        def next(self, input_data: Any) -> bool:
            if self.iterator is None:
                self.iterator = spool.batches()
            batch = next(self.iterator, None)
            if batch is None:
                return False
            input_data(data=batch["x"], label=batch["y"])
            return True

        def reset(self) -> None:
            self.iterator = None

    return xgboost.QuantileDMatrix(Batches(), ref=ref, max_bin=256)


def xgboost_loop(config: dict[str, Any]) -> None:
    import ray.train
    import xgboost
    from ray.train.xgboost import RayTrainReportCallback

    rank = ray.train.get_context().get_world_rank()
    reader = ShardReader("train", rank, config["batch_rows"])
    with tempfile.TemporaryDirectory(prefix="kubetrain-shard-") as spool_dir:
        train = _xgboost_matrix(Spool(reader, Path(spool_dir, "train")))
        evals = [(train, "train")]
        if config["has_validation"]:
            valid = Spool(ShardReader("validation", rank, 4096), Path(spool_dir, "validation"))
            evals.append((_xgboost_matrix(valid, ref=train), "valid"))
        found, done = ray.train.get_checkpoint(), 0
        start = RayTrainReportCallback.get_model(found) if found is not None else None
        if start is not None:
            done = reader.counters.resumed_from = start.num_boosted_rounds()
        xgboost.train(
            config["params"], train, num_boost_round=max(config["rounds"] - done, 0),
            evals=evals, xgb_model=start, verbose_eval=False,
            callbacks=[RayTrainReportCallback(frequency=CHECKPOINT_EVERY, checkpoint_at_end=True)],
        )  # fmt: skip
    publish(config["store"], reader.counters)


def _lightgbm_dataset(spool: Spool, reference: Any = None) -> Any:
    """A LightGBM `Dataset` built from the spooled batches as `lightgbm.Sequence`s over
    memory-mapped files: LightGBM samples rows for its bins and then reads range by range, so
    the worker never holds its shard's raw rows (only the labels, one float each)."""
    import lightgbm

    class Rows(lightgbm.Sequence):
        batch_size = 4096

        def __init__(self, path: Path) -> None:
            self.rows = np.load(path, mmap_mode="r")

        def __getitem__(self, index: Any) -> np.ndarray:
            return np.asarray(self.rows[index], dtype=np.float64)  # LightGBM samples doubles

        def __len__(self) -> int:
            return len(self.rows)

    labels = [batch["y"] for batch in spool.batches()]  # the first pass fills the spool
    if not labels:
        return lightgbm.Dataset(np.zeros((0, 0), dtype=np.float32), label=np.zeros(0),
                                reference=reference)  # fmt: skip
    sequences = [Rows(spool.directory / f"{i}-x.npy") for i in range(spool.count)]
    return lightgbm.Dataset(sequences, label=np.concatenate(labels), reference=reference,
                            free_raw_data=True)  # fmt: skip


def lightgbm_loop(config: dict[str, Any]) -> None:
    import lightgbm
    import ray.train
    from ray.train.lightgbm import RayTrainReportCallback, get_network_params

    rank = ray.train.get_context().get_world_rank()
    reader = ShardReader("train", rank, config["batch_rows"])
    with tempfile.TemporaryDirectory(prefix="kubetrain-shard-") as spool_dir:
        train = _lightgbm_dataset(Spool(reader, Path(spool_dir, "train")))
        valid_sets, names = [train], ["train"]
        if config["has_validation"]:
            valid = Spool(ShardReader("validation", rank, 4096), Path(spool_dir, "validation"))
            valid_sets.append(_lightgbm_dataset(valid, reference=train))
            names.append("valid")
        params = {**config["params"], "tree_learner": "data_parallel", "pre_partition": True,
                  **get_network_params()}  # fmt: skip
        found, done = ray.train.get_checkpoint(), 0
        start = RayTrainReportCallback.get_model(found) if found is not None else None
        if start is not None:
            done = reader.counters.resumed_from = start.current_iteration()
        lightgbm.train(
            params, train, num_boost_round=max(config["rounds"] - done, 0),
            valid_sets=valid_sets, valid_names=names, init_model=start,
            callbacks=[RayTrainReportCallback(frequency=CHECKPOINT_EVERY,
                                              checkpoint_at_end=True)],
        )  # fmt: skip
    publish(config["store"], reader.counters)


def fit_booster(
    library: str, task: str, spec: Any, n_classes: int, datasets: dict[str, Any], store: Any,
    batch_rows: int, storage: dict[str, Any], name: str,
) -> BoosterModel:  # fmt: skip
    from kubetrain_trainer.distributed.runner import run_trainer, use_gpu
    from kubetrain_trainer.errors import TrainerError

    params, rounds = params_of(
        library, task, spec.hyperparameters, n_classes, spec.seed, use_gpu(spec.gpus_per_worker)
    )
    config = {
        "params": params,
        "rounds": rounds,
        "batch_rows": batch_rows,
        "has_validation": "validation" in datasets,
        "store": store,
    }
    loop = xgboost_loop if library == "xgboost" else lightgbm_loop
    result = run_trainer(library, loop, config, datasets, spec, storage, name)
    if result.checkpoint is None:
        raise TrainerError(f"distributed {library} returned no model.")
    booster: Any
    if library == "xgboost":
        from ray.train.xgboost import RayTrainReportCallback as XGBCallback

        booster = XGBCallback.get_model(result.checkpoint)
    else:
        from ray.train.lightgbm import RayTrainReportCallback as LGBCallback

        booster = LGBCallback.get_model(result.checkpoint)
    return BoosterModel(library, booster, task, n_classes)
