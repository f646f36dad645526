"""The preparation's statistics in one distributed pass over the training split.

Every block of the training Dataset is summarised where it lies (`map_batches`) into a small
`Partial`: per numeric column the count, sum, sum of squares, extremes, missing count and a
bounded random sample; per categorical column the value counts; the target's counts (classes)
or moments (regression); rows and in-memory bytes. The driver only merges partials, so its
memory holds per-column summaries, never rows. Means, standard deviations, extremes and
vocabularies are exact; medians and quantiles (median imputation, robust scaling) come from
the merged samples (`SAMPLE_PER_BLOCK` values per block) and are approximate, which
`Statistics.approximate` says and the metadata records.
"""

from __future__ import annotations

import pickle
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kubetrain_trainer.distributed.source import HASH_COLUMN, SPLIT_COLUMN
from kubetrain_trainer.errors import DataError

SAMPLE_PER_BLOCK = 512


@dataclass
class NumericStats:
    count: int = 0
    missing: int = 0
    total: float = 0.0
    squares: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")
    sample: list[np.ndarray] = field(default_factory=list)

    def add(self, values: pd.Series, rng: np.random.Generator) -> None:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        present = numbers[np.isfinite(numbers)]
        self.missing += len(numbers) - len(present)
        if not len(present):
            return
        self.count += len(present)
        self.total += float(present.sum())
        self.squares += float((present**2).sum())
        self.low, self.high = min(self.low, present.min()), max(self.high, present.max())
        take = min(len(present), SAMPLE_PER_BLOCK)
        self.sample.append(rng.choice(present, size=take, replace=False))

    def merge(self, other: NumericStats) -> None:
        self.count += other.count
        self.missing += other.missing
        self.total += other.total
        self.squares += other.squares
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.sample += other.sample

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        if not self.count:
            return 0.0
        return float(np.sqrt(max(self.squares / self.count - self.mean**2, 0.0)))

    def quantile(self, q: float) -> float:
        values = np.concatenate(self.sample) if self.sample else np.zeros(1)
        return float(np.quantile(values, q))


@dataclass
class Partial:
    """One block's summary (and, merged, the training split's)."""

    rows: int = 0
    bytes: int = 0
    missing_target: int = 0
    incomplete_rows: int = 0  # rows with a missing feature value
    numeric: dict[str, NumericStats] = field(default_factory=dict)
    categorical: dict[str, Counter[str]] = field(default_factory=dict)
    labels: Counter[Any] = field(default_factory=Counter)
    target: NumericStats = field(default_factory=NumericStats)

    def merge(self, other: Partial) -> None:
        self.rows += other.rows
        self.bytes += other.bytes
        self.missing_target += other.missing_target
        self.incomplete_rows += other.incomplete_rows
        for name, stats in other.numeric.items():
            self.numeric.setdefault(name, NumericStats()).merge(stats)
        for name, counts in other.categorical.items():
            self.categorical.setdefault(name, Counter[str]()).update(counts)
        self.labels.update(other.labels)
        self.target.merge(other.target)


@dataclass(frozen=True)
class Layout:
    """Which columns are features, and of which kind (decided once, from the schema)."""

    target: str
    task: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]


class Summarise:
    """map_batches: a block → one row holding its pickled `Partial`."""

    def __init__(self, layout: Layout, seed: int) -> None:
        self.layout, self.seed = layout, seed

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        layout = self.layout
        # Labels from every split (the classes); everything else from the training rows only.
        if layout.task == "classification":
            labels = rows[layout.target].dropna()
        batch = rows[rows[SPLIT_COLUMN] == 0] if SPLIT_COLUMN in rows.columns else rows
        batch = batch.drop(columns=[c for c in (SPLIT_COLUMN, HASH_COLUMN) if c in batch.columns])
        part = Partial(rows=len(batch), bytes=int(batch.memory_usage(deep=True).sum()))
        rng = np.random.default_rng([self.seed, len(batch)])
        target = batch[layout.target]
        part.missing_target = int(target.isna().sum())
        kept = batch[target.notna()]
        features = list(layout.numeric + layout.categorical)
        part.incomplete_rows = int(kept[features].isna().any(axis=1).sum()) if features else 0
        for name in layout.numeric:
            part.numeric[name] = NumericStats()
            part.numeric[name].add(kept[name], rng)
        for name in layout.categorical:
            values = kept[name].dropna().astype(str)
            part.categorical[name] = Counter(values.value_counts().to_dict())
        if layout.task == "classification":
            part.labels = Counter(labels.value_counts().to_dict())
        else:
            part.target.add(kept[layout.target], rng)
        return pd.DataFrame({"partial": [pickle.dumps(part)]})


def layout_of(schema: Any, target: str, task: str, columns: Any) -> Layout:
    """Numeric and categorical feature columns from a Ray Dataset's (Arrow) schema."""
    import pyarrow as pa

    names = [n for n in schema.names if n not in (SPLIT_COLUMN, HASH_COLUMN)]
    if target not in names:
        raise DataError(
            f"problem.target: the column {target!r} is not in the data; its columns are: "
            f"{', '.join(names[:30])}."
        )
    wanted = [n for n in names if n != target and (not columns.include or n in columns.include)]
    wanted = [n for n in wanted if n not in columns.exclude]
    numeric, categorical = [], []
    for name, kind in zip(schema.names, schema.types, strict=True):
        if name not in wanted:
            continue
        declared = columns.types.get(name)
        if declared in ("text", "datetime") or (
            declared is None and (pa.types.is_temporal(kind) or pa.types.is_nested(kind))
        ):
            raise DataError(
                f"preparation.features: column {name!r} ({declared or kind}) is not supported "
                "by the multi-worker Ray Data path yet; exclude it or train with one worker."
            )
        is_number = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        is_number = is_number or pa.types.is_boolean(kind) or pa.types.is_decimal(kind)
        if declared == "numeric" or (declared is None and is_number):
            numeric.append(name)
        else:
            categorical.append(name)
    if not numeric and not categorical:
        raise DataError("the data has no feature columns besides the target.")
    return Layout(target, task, tuple(numeric), tuple(categorical))


def summarise(dataset: Any, layout: Layout, seed: int) -> Partial:
    """The training split's merged `Partial` (labels: of every split), computed block by block
    on the cluster; `dataset` holds every split's rows, told apart by `SPLIT_COLUMN`."""
    merged = Partial()
    rows = dataset.map_batches(Summarise(layout, seed), batch_format="pandas")
    for batch in rows.iter_batches(batch_format="pandas", batch_size=256):
        for blob in batch["partial"]:
            merged.merge(pickle.loads(blob))
    if merged.rows - merged.missing_target == 0:
        raise DataError("the training split has no rows with a target value.")
    return merged
