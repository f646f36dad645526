"""Data bigger than one machine: the multi-worker path through Ray Data and Ray Train.

With several workers and files to read, a job does not load its data into one pandas frame on
the driver. `choose(config)` decides, and says why, which path a job takes:

- `ray-data`: the files are read as a Ray Dataset (`source`), split by row hash; the
  preparation's statistics are computed in one distributed pass (`statistics`) and the fitted
  preprocessor applied block by block (`preprocessor`); each Ray Train worker streams only its
  own shard (`workers`) to train a network with DDP or FSDP (`networks`) or XGBoost/LightGBM
  (`boosting`); metrics are merged from per-block partial results (`evaluation`).
  `pipeline.run` is the whole attempt.
- `pandas`: everything else (one worker, built-in data sets, time series, text and images,
  tuning, cross-validation, models without a distributed trainer) stays on the in-memory
  workflow, which is faster when the data fits.

The choice is automatic and recorded in the job's metadata (`data.path`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RAY_DATA, PANDAS = "ray-data", "pandas"
BOOSTERS = ("xgboost", "lightgbm")
NETWORKS = ("mlp",)


@dataclass(frozen=True)
class DataPath:
    name: str  # ray-data | pandas
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


def choose(config: Any) -> DataPath:
    """The data path of a job (`config`: a `JobConfig`)."""
    model = config.model
    if model is None or model.workers <= 1:
        return DataPath(PANDAS, "one worker: the data is read into memory on the driver")
    unsupported = _unsupported(config)
    if unsupported:
        return DataPath(PANDAS, f"{model.workers} workers, but {unsupported}")
    return DataPath(
        RAY_DATA,
        f"{model.workers} workers reading files: each streams its own shard through Ray Data",
    )


def _unsupported(config: Any) -> str | None:
    model, prep = config.model, config.preparation
    reasons = [
        (config.data.uri is None, "the data is a built-in data set, not files"),
        (config.task not in ("classification", "regression"), f"the task is {config.task}"),
        (config.tuning is not None or config.auto is not None, "the job tunes or selects"),
        (bool(prep.folds), "the job cross-validates"),
        (prep.drop_duplicates, "preparation.dropDuplicates needs every row at once"),
        (model.class_weights == "balanced", "classWeights: balanced is not distributed yet"),
        (
            model.name not in BOOSTERS + NETWORKS,
            f"{model.name} has no distributed trainer (distributed: "
            f"{', '.join(BOOSTERS + NETWORKS)})",
        ),
        (
            config.data.format not in (None, "csv", "parquet"),
            f"the {config.data.format} format is read in memory",
        ),
    ]
    return next((why for applies, why in reasons if applies), None)
