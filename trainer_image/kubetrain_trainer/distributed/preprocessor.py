"""The preprocessor fitted from distributed statistics, applied block by block.

`StreamingPreprocessor.fit(partial, layout, spec)` turns the merged training statistics into
plain per-column constants (fill values, centre and scale, vocabularies, classes, the target's
mean and deviation); `transform(frame)` applies them to any pandas batch with numpy alone, so it
runs inside Ray Data's `map_batches` on every block and, pickled with the model, on the rows a
user predicts. Missing values and scaling follow `preparation` as the single-worker path does;
medians and quantiles are the approximate ones of `statistics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kubetrain_trainer.distributed.source import HASH_COLUMN
from kubetrain_trainer.distributed.statistics import Layout, NumericStats, Partial
from kubetrain_trainer.errors import DataError
from kubetrain_trainer.preparation.preprocessors import Preprocessor
from kubetrain_trainer.preparation.spec import PrepSpec

MAX_CATEGORIES = 1000
"""One-hot columns per categorical feature at most (the most frequent values; others → 0)."""


def _fill(stats: NumericStats, spec: PrepSpec) -> float:
    if spec.missing == "constant":
        try:
            return float(spec.fill_value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DataError(
                f"preparation.missing.fillValue: {spec.fill_value!r} is not a number, and "
                "numeric columns need one."
            ) from None
    if spec.missing == "mean":
        return stats.mean
    if spec.missing == "most-frequent":
        values, counts = np.unique(
            np.concatenate(stats.sample or [np.zeros(1)]), return_counts=True
        )
        return float(values[counts.argmax()])
    return stats.quantile(0.5)  # median (and the fallback of drop, as in prepare)


def _scale(stats: NumericStats, kind: str) -> tuple[float, float]:
    """(centre, scale) of one numeric column."""
    if kind == "standard":
        return stats.mean, stats.std or 1.0
    if kind == "minmax":
        span = stats.high - stats.low if stats.count else 0.0
        return (stats.low if stats.count else 0.0), span or 1.0
    if kind == "robust":
        iqr = stats.quantile(0.75) - stats.quantile(0.25)
        return stats.quantile(0.5), iqr or 1.0
    return 0.0, 1.0


@dataclass
class Prepared:
    """One prepared batch: features, target, and each row's hash (for the shard counters)."""

    x: np.ndarray
    y: np.ndarray
    hashes: np.ndarray


class StreamingPreprocessor(Preprocessor):
    def __init__(self, spec: PrepSpec, layout: Layout) -> None:
        self.spec, self.layout = spec, layout
        self.task = spec.task
        self.columns = [*layout.numeric, *layout.categorical]
        self.fills: dict[str, float] = {}
        self.centres = np.zeros(0)
        self.scales = np.ones(0)
        self.vocabularies: dict[str, list[str]] = {}
        self.target_mean, self.target_std = 0.0, 1.0
        self.approximate: list[str] = []

    def fit(self, stats: Partial, labels: list[Any] | None = None) -> StreamingPreprocessor:
        spec = self.spec
        numeric = [stats.numeric[c] for c in self.layout.numeric]
        self.fills = {c: _fill(s, spec) for c, s in zip(self.layout.numeric, numeric, strict=True)}
        pairs = [_scale(s, spec.scaling) for s in numeric]
        self.centres = np.array([p[0] for p in pairs], dtype=np.float64)
        self.scales = np.array([p[1] for p in pairs], dtype=np.float64)
        if spec.missing in ("median", "drop", "most-frequent") or spec.scaling == "robust":
            self.approximate = ["medians and quantiles from a bounded sample per block"]
        cat_fill = str(spec.fill_value) if spec.missing == "constant" else "__missing__"
        self.cat_fill = cat_fill
        for name in self.layout.categorical:
            counts = stats.categorical.get(name)
            common = [v for v, _ in counts.most_common(MAX_CATEGORIES)] if counts else []
            self.vocabularies[name] = sorted(common + [cat_fill] * (cat_fill not in common))
        self.feature_names = list(self.layout.numeric)
        for name in self.layout.categorical:
            if spec.encoding == "one-hot":
                self.feature_names += [f"{name}_{v}" for v in self.vocabularies[name]]
            else:
                self.feature_names.append(name)
        if self.task == "classification":
            found = labels if labels is not None else list(stats.labels)
            self.classes = sorted(found, key=str)
            self._index = {c: i for i, c in enumerate(self.classes)}
        else:
            self.target_mean, self.target_std = stats.target.mean, stats.target.std or 1.0
        return self

    # -- features -------------------------------------------------------------------------------

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(f"the rows to predict lack the feature columns {missing}.")
        parts = []
        if self.layout.numeric:
            block = frame[list(self.layout.numeric)].apply(pd.to_numeric, errors="coerce")
            block = block.fillna(self.fills).to_numpy(dtype=np.float64)
            parts.append((block - self.centres) / self.scales)
        for name in self.layout.categorical:
            values = frame[name].astype(object).where(frame[name].notna(), self.cat_fill)
            codes = pd.Categorical(values.astype(str), categories=self.vocabularies[name]).codes
            if self.spec.encoding == "one-hot":
                onehot = np.zeros((len(frame), len(self.vocabularies[name])))
                seen = codes >= 0
                onehot[np.nonzero(seen)[0], codes[seen]] = 1.0
                parts.append(onehot)
            else:
                parts.append(codes.reshape(-1, 1).astype(np.float64))
        return np.hstack(parts).astype(np.float32) if parts else np.zeros((len(frame), 0))

    # -- target ---------------------------------------------------------------------------------

    def transform_target(self, y: pd.Series) -> np.ndarray:
        if self.task == "classification":
            try:
                return np.array([self._index[v] for v in y], dtype=np.int64)
            except KeyError as exc:
                raise DataError(f"label {exc.args[0]!r} was not seen in the data") from None
        values = pd.to_numeric(y).to_numpy(dtype=np.float64)
        scaled: np.ndarray = ((values - self.target_mean) / self.target_std).astype(np.float32)
        return scaled

    def inverse_target(self, y: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        if self.task == "classification":
            labels: np.ndarray = np.asarray(self.classes, dtype=object)[np.asarray(y, dtype=int)]
            return labels
        return np.asarray(y, dtype=np.float64).ravel() * self.target_std + self.target_mean

    # -- one block, inside Ray Data -------------------------------------------------------------

    def prepare(self, batch: pd.DataFrame) -> Prepared:
        kept = batch[batch[self.layout.target].notna()]
        if self.spec.missing == "drop" and self.columns:
            kept = kept[kept[self.columns].notna().all(axis=1)]
        return Prepared(
            x=self.transform(kept),
            y=self.transform_target(kept[self.layout.target]),
            hashes=kept[HASH_COLUMN].to_numpy(dtype=np.uint64),
        )


class PrepareBlock:
    """map_batches: raw pandas rows → {"x", "y", "row_hash"} numpy columns."""

    def __init__(self, preprocessor: StreamingPreprocessor) -> None:
        self.preprocessor = preprocessor

    def __call__(self, batch: pd.DataFrame) -> dict[str, np.ndarray]:
        out = self.preprocessor.prepare(batch)
        return {"x": out.x, "y": out.y, "row_hash": out.hashes}
