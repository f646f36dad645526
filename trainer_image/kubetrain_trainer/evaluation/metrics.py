"""Stage 5, evaluation: held-out metrics, the success threshold, and training-health warnings.

Pure functions of arrays: `score(task, y_true, y_pred, proba)` returns the metric dict for one
split; `check_objective` compares a metric with the declared threshold; `evaluation.health`
looks at the loss history and at the train/validation gap. Everything is in the target's own
units (labels for classification, the original scale for regression and forecasting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubetrain_trainer.errors import InvalidSpecError

# Names as in the TrainingJob API (`kubetrain.api.Metric`).
CLASSIFICATION_METRICS = (
    "accuracy", "balanced-accuracy", "precision", "recall", "f1", "roc-auc", "log-loss",
)  # fmt: skip
REGRESSION_METRICS = ("mae", "mse", "rmse", "r2", "mape")
FORECASTING_METRICS = (*REGRESSION_METRICS, "smape", "mase")
LOWER_IS_BETTER = {"mae", "mse", "rmse", "mape", "smape", "mase", "loss", "val_loss", "log-loss"}

DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse", "forecasting": "mae"}

ZERO = 1e-12  # an actual value this close to 0 makes relative errors undefined


def metric_names(task: str) -> tuple[str, ...]:
    return {
        "classification": CLASSIFICATION_METRICS,
        "regression": REGRESSION_METRICS,
        "forecasting": FORECASTING_METRICS,
    }[task]


def direction_of(metric: str) -> str:
    return "minimize" if metric.lower() in LOWER_IS_BETTER else "maximize"


def validate_metric(task: str, metric: str) -> str:
    name = metric.lower().replace("_", "-")
    aliases = {"auc": "roc-auc", "rocauc": "roc-auc", "f1-score": "f1", "r-squared": "r2"}
    name = aliases.get(name, name)
    if name not in metric_names(task):
        raise InvalidSpecError(
            f"objective metric {metric!r} is not computed for {task}; "
            f"choose one of {', '.join(metric_names(task))}."
        )
    return name


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def classification_scores(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, n_classes: int
) -> dict[str, Any]:
    from sklearn import metrics

    # Macro averages over the classes, as the API documents (binary tasks included).
    average = "macro"
    labels = list(range(n_classes))
    out: dict[str, Any] = {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "balanced-accuracy": float(metrics.balanced_accuracy_score(y_true, y_pred)),
        "precision": float(
            metrics.precision_score(y_true, y_pred, average=average, zero_division=0)
        ),
        "recall": float(metrics.recall_score(y_true, y_pred, average=average, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, y_pred, average=average, zero_division=0)),
    }
    out["roc-auc"] = out["log-loss"] = None
    if proba is not None and len(np.unique(y_true)) > 1:
        try:
            if n_classes == 2:
                out["roc-auc"] = float(metrics.roc_auc_score(y_true, proba[:, 1]))
            else:
                out["roc-auc"] = float(
                    metrics.roc_auc_score(
                        y_true, proba, multi_class="ovr", average="macro", labels=labels
                    )
                )
        except ValueError:
            out["roc-auc"] = None  # a class absent from this split
        out["log-loss"] = float(metrics.log_loss(y_true, np.clip(proba, 1e-15, 1), labels=labels))
    out["confusion_matrix"] = metrics.confusion_matrix(
        y_true, y_pred, labels=list(range(n_classes))
    ).tolist()
    return out


def regression_scores(
    y_true: np.ndarray, y_pred: np.ndarray, forecasting: bool = False
) -> dict[str, Any]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    err = y_pred - y_true
    mse = float(np.mean(err**2))
    var = float(np.var(y_true))
    out: dict[str, Any] = {
        "mae": _finite(float(np.mean(np.abs(err)))),
        "mse": _finite(mse),
        "rmse": _finite(math.sqrt(mse)) if math.isfinite(mse) else None,
        "r2": _finite(1 - mse / var) if var > 0 else None,
    }
    # Fractions, not percent: 0.05 is 5% (the API's thresholds use the same unit). Undefined
    # (None) when any actual value is zero: dividing by it, or skipping it, would mislead.
    zero = np.abs(y_true) <= ZERO
    out["mape"] = None if zero.any() else _finite(float(np.mean(np.abs(err / y_true))))
    if forecasting:
        denom = (np.abs(y_true) + np.abs(y_pred)) / 2
        ok = denom > 1e-12
        out["smape"] = _finite(float(np.mean(np.abs(err[ok]) / denom[ok]))) if ok.any() else None
    return out


def score(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None = None,
    n_classes: int = 0,
) -> dict[str, Any]:
    if task == "classification":
        return classification_scores(y_true, y_pred, proba, n_classes)
    return regression_scores(y_true, y_pred, forecasting=task == "forecasting")


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str  # maximize | minimize
    threshold: float | None = None

    @property
    def mode(self) -> str:
        return "max" if self.direction == "maximize" else "min"

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


@dataclass
class ObjectiveCheck:
    metric: str
    value: float | None
    threshold: float | None
    direction: str
    passed: bool | None  # None: no threshold declared

    def sentence(self) -> str:
        if self.value is None:
            return f"{self.metric}: no value was computed (no verdict)"
        if self.threshold is None:
            return f"{self.metric} = {_fmt(self.value)} (no threshold declared)"
        op = ">=" if self.direction == "maximize" else "<="
        verdict = "met" if self.passed else "NOT met"
        return f"{self.metric} = {_fmt(self.value)}, threshold {op} {self.threshold}: {verdict}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def check_objective(metrics: dict[str, Any], objective: Objective) -> ObjectiveCheck:
    value = metrics.get(objective.metric)
    passed: bool | None = None  # no value or no threshold: no verdict without evidence
    if objective.threshold is not None and value is not None:
        if objective.direction == "maximize":
            passed = value >= objective.threshold
        else:
            passed = value <= objective.threshold
    return ObjectiveCheck(objective.metric, value, objective.threshold, objective.direction, passed)


@dataclass
class Evaluation:
    """What `metrics.json` holds."""

    task: str
    test: dict[str, Any]
    train: dict[str, Any]
    validation: dict[str, Any] | None
    objective: ObjectiveCheck
    cross_validation: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    classes: list[str] | None = None
    health: list[dict[str, str]] = field(default_factory=list)
    """Training-health findings ({reason, message}); see `health`."""
    baselines: dict[str, Any] | None = None  # forecasting: naive and seasonal naive

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "test": self.test,
            "train": self.train,
            "validation": self.validation,
            "crossValidation": self.cross_validation or None,
            "objective": {
                "metric": self.objective.metric,
                "value": self.objective.value,
                "threshold": self.objective.threshold,
                "direction": self.objective.direction,
                "passed": self.objective.passed,
            },
            "warnings": self.warnings,
            "classes": self.classes,
            "health": self.health,
            "baselines": self.baselines,
        }


def cross_validation_summary(
    per_fold: list[dict[str, Any]], task: str
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in metric_names(task):
        values = [m[name] for m in per_fold if m.get(name) is not None]
        if values:
            out[name] = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values)),
                "folds": [float(v) for v in values],
            }
    return out


def undefined_metric_warnings(
    task: str, splits: dict[str, tuple[np.ndarray, dict[str, Any]] | None]
) -> list[str]:
    """One warning per metric left undefined (None) on a split, with the reason in the data."""
    warnings = []
    for split, entry in splits.items():
        if entry is None or task == "classification":
            continue
        truth, metrics = entry
        y = np.asarray(truth, dtype=np.float64).ravel()
        reasons = {
            "mape": f"{int((np.abs(y) <= ZERO).sum())} of {len(y)} actual values are 0",
            "r2": "the actual values are all equal",
            "smape": "actual and predicted values are all 0",
            "mase": "the training series does not change, so it has no scale",
        }
        for name, reason in reasons.items():
            if name in metrics and metrics[name] is None:
                warnings.append(
                    f"{name} is undefined on the {split} split ({reason}); it is reported as "
                    "null. Use another metric, such as mae or smape, to judge this model."
                )
    return warnings


def _is_finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
