"""Sharded evaluation: metrics from per-block partial results, merged on the driver.

`evaluate(model, dataset, task, n_classes)` runs the model over each block of a prepared
Dataset where the block lies (`map_batches`) and returns only sufficient statistics — for
classification the confusion-matrix counts, the summed log-loss and, per class, histograms of
the predicted probability among the class's rows and the others' (ROC AUC from the histograms,
exact up to the bin width `AUC_BINS`); for regression the sums of errors, absolute and squared
errors, relative errors and the target's moments, all in the target's units. The driver merges
those, so its memory does not grow with the data; the metric names and meanings are
`evaluate.score`'s, and `metrics_of(partial)` is tested to agree with it on the same rows.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kubetrain_trainer.evaluation.metrics import ZERO

AUC_BINS = 2000


@dataclass
class ScorePartial:
    task: str
    n_classes: int = 0
    rows: int = 0
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    log_loss: float = 0.0
    with_proba: bool = True
    positives: np.ndarray = field(default_factory=lambda: np.zeros((0, AUC_BINS)))
    negatives: np.ndarray = field(default_factory=lambda: np.zeros((0, AUC_BINS)))
    sums: dict[str, float] = field(default_factory=dict)

    def merge(self, other: ScorePartial) -> None:
        self.rows += other.rows
        if self.task == "classification":
            self.confusion = self.confusion + other.confusion
            self.log_loss += other.log_loss
            self.with_proba = self.with_proba and other.with_proba
            self.positives = self.positives + other.positives
            self.negatives = self.negatives + other.negatives
        for key, value in other.sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + value


def empty(task: str, n_classes: int) -> ScorePartial:
    k = n_classes if task == "classification" else 0
    return ScorePartial(
        task=task,
        n_classes=n_classes,
        confusion=np.zeros((k, k), dtype=np.int64),
        positives=np.zeros((k, AUC_BINS)),
        negatives=np.zeros((k, AUC_BINS)),
    )


def partial_of(task: str, n_classes: int, y: np.ndarray, pred: np.ndarray,
               proba: np.ndarray | None) -> ScorePartial:  # fmt: skip
    """The sufficient statistics of one block (classification: class indices; else units)."""
    part = empty(task, n_classes)
    part.rows = len(y)
    if task == "classification":
        y, pred = np.asarray(y, dtype=int), np.asarray(pred, dtype=int)
        np.add.at(part.confusion, (y, pred), 1)
        if proba is None:
            part.with_proba = False
            return part
        part.log_loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1)).sum())
        bins = np.clip((proba * AUC_BINS).astype(int), 0, AUC_BINS - 1)
        for c in range(n_classes):
            mine = y == c
            part.positives[c] += np.bincount(bins[mine, c], minlength=AUC_BINS)
            part.negatives[c] += np.bincount(bins[~mine, c], minlength=AUC_BINS)
        return part
    t = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(pred, dtype=np.float64).ravel()
    err = p - t
    zero = np.abs(t) <= ZERO
    part.sums = {
        "abs": float(np.abs(err).sum()),
        "sq": float((err**2).sum()),
        "y": float(t.sum()),
        "y2": float((t**2).sum()),
        "rel": float(np.abs(err[~zero] / t[~zero]).sum()),
        "zeros": float(zero.sum()),
    }
    return part


def _auc(positives: np.ndarray, negatives: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative) + half the ties, from histograms."""
    n_pos, n_neg = positives.sum(), negatives.sum()
    if not n_pos or not n_neg:
        return None
    below = np.cumsum(negatives) - negatives  # negatives in lower bins
    wins = (positives * below).sum() + 0.5 * (positives * negatives).sum()
    return float(wins / (n_pos * n_neg))


def _classification(part: ScorePartial) -> dict[str, Any]:
    cm = part.confusion.astype(np.float64)
    truth, guessed, hits = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    seen = (truth > 0) | (guessed > 0)  # scikit-learn's labels: those in y_true or y_pred
    recall = np.divide(hits, truth, out=np.zeros_like(hits), where=truth > 0)
    precision = np.divide(hits, guessed, out=np.zeros_like(hits), where=guessed > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    out: dict[str, Any] = {
        "accuracy": float(hits.sum() / max(cm.sum(), 1)),
        "balanced-accuracy": float(recall[truth > 0].mean()) if (truth > 0).any() else 0.0,
        "precision": float(precision[seen].mean()) if seen.any() else 0.0,
        "recall": float(recall[seen].mean()) if seen.any() else 0.0,
        "f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "roc-auc": None,
        "log-loss": None,
    }
    if part.with_proba and (truth > 0).sum() > 1:
        if part.n_classes == 2:
            out["roc-auc"] = _auc(part.positives[1], part.negatives[1])
        elif (truth > 0).all():
            aucs = [_auc(part.positives[c], part.negatives[c]) for c in range(part.n_classes)]
            out["roc-auc"] = float(np.mean([a for a in aucs if a is not None]))
        out["log-loss"] = part.log_loss / max(part.rows, 1)
    out["confusion_matrix"] = part.confusion.astype(int).tolist()
    return out


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _regression(part: ScorePartial) -> dict[str, Any]:
    n, s = max(part.rows, 1), part.sums
    mse = s.get("sq", 0.0) / n
    var = s.get("y2", 0.0) / n - (s.get("y", 0.0) / n) ** 2
    return {
        "mae": _finite(s.get("abs", 0.0) / n),
        "mse": _finite(mse),
        "rmse": _finite(math.sqrt(mse)) if math.isfinite(mse) else None,
        "r2": _finite(1 - mse / var) if var > 1e-12 else None,
        "mape": None if s.get("zeros", 0.0) else _finite(s.get("rel", 0.0) / n),
    }


def metrics_of(part: ScorePartial) -> dict[str, Any]:
    return _classification(part) if part.task == "classification" else _regression(part)


class ScoreBlock:
    """map_batches: a prepared block → one row holding its pickled `ScorePartial`."""

    def __init__(self, model: Any, task: str, n_classes: int) -> None:
        self.model, self.task, self.n_classes = model, task, n_classes

    def __call__(self, batch: dict[str, np.ndarray]) -> pd.DataFrame:
        pred, proba = self.model.predict_arrays(batch["x"])
        y = batch["y"]
        if self.task != "classification":
            pre = self.model.preprocessor
            y, pred = pre.inverse_target(y), pre.inverse_target(pred)
        part = partial_of(self.task, self.n_classes, y, pred, proba)
        return pd.DataFrame({"partial": [pickle.dumps(part)]})


def evaluate(model: Any, dataset: Any, task: str, n_classes: int) -> tuple[dict[str, Any], int]:
    """(metrics, rows) of a prepared Dataset, computed block by block on the cluster."""
    merged = empty(task, n_classes)
    scored = dataset.map_batches(
        ScoreBlock(model, task, n_classes), batch_format="numpy", batch_size=4096
    )
    for batch in scored.iter_batches(batch_format="pandas", batch_size=256):
        for blob in batch["partial"]:
            merged.merge(pickle.loads(blob))
    return metrics_of(merged), merged.rows
