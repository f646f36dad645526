"""Stage 5: metrics match scikit-learn, thresholds, and the training-health warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from kubetrain_trainer.evaluate import (
    Objective,
    check_objective,
    cross_validation_summary,
    score,
    training_warnings,
)


def test_classification_metrics_match_scikit_learn():
    y = np.array([0, 1, 2, 2, 1, 0, 1, 2])
    pred = np.array([0, 2, 2, 2, 1, 0, 1, 1])
    proba = np.eye(3)[pred] * 0.8 + 0.2 / 3
    out = score("classification", y, pred, proba, 3)
    assert out["accuracy"] == skm.accuracy_score(y, pred)
    assert out["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert out["roc-auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert out["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()


def test_regression_and_forecasting_metrics():
    y, pred = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    out = score("forecasting", y, pred)
    assert out["mae"] == pytest.approx(0.5)
    assert out["rmse"] == pytest.approx(math.sqrt((0.25 + 1) / 3))
    assert out["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert out["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    assert "smape" in out and "smape" not in score("regression", y, pred)


def test_threshold_check_respects_the_direction():
    assert check_objective({"accuracy": 0.91}, Objective("accuracy", "maximize", 0.9)).passed
    assert not check_objective({"rmse": 3.0}, Objective("rmse", "minimize", 2.0)).passed
    assert check_objective({"rmse": 3.0}, Objective("rmse", "minimize")).passed is None


def test_cross_validation_mean_and_std():
    folds = [{"r2": 0.4}, {"r2": 0.6}]
    assert cross_validation_summary(folds, "regression")["r2"] == {
        "mean": 0.5, "std": pytest.approx(0.1), "folds": [0.4, 0.6]
    }  # fmt: skip


def test_warnings_for_overfitting_nan_exploding_and_vanishing():
    acc = Objective("accuracy", "maximize")
    assert "overfitting" in training_warnings([], {"accuracy": 1.0}, {"accuracy": 0.7}, acc)[0]
    assert training_warnings([], {"accuracy": 0.95}, {"accuracy": 0.93}, acc) == []
    nan = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": float("nan")}]
    assert "NaN" in training_warnings(nan, {}, None, acc)[0]
    boom = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 500.0}]
    assert "exploded" in training_warnings(boom, {}, None, acc)[0]
    flat = [{"epoch": e, "train_loss": 0.7, "grad_norm": 1e-9} for e in range(1, 5)]
    assert "vanished" in training_warnings(flat, {}, None, acc)[0]
    rmse = Objective("rmse", "minimize")
    assert "overfitting" in training_warnings([], {"rmse": 1.0}, {"rmse": 2.0}, rmse)[0]


def test_mape_with_zero_actuals_is_undefined_with_a_warning_never_a_huge_number():
    from kubetrain_trainer.evaluate import undefined_metric_warnings

    y = np.array([0.0, 2.0, 4.0, 0.0, 5.0])
    pred = np.array([0.5, 2.5, 3.0, 0.1, 5.0])
    out = score("regression", y, pred)
    assert out["mape"] is None
    assert out["mae"] == pytest.approx(np.mean(np.abs(pred - y)))
    warnings = undefined_metric_warnings("regression", {"test": (y, out), "validation": None})
    assert warnings == [
        "mape is undefined on the test split (2 of 5 actual values are 0); it is reported as "
        "null. Use another metric, such as mae or smape, to judge this model."
    ]
    constant = score("regression", np.ones(4), np.arange(4.0))
    assert constant["r2"] is None
    assert (
        "r2 is undefined on the train split (the actual values are all equal)"
        in (undefined_metric_warnings("regression", {"train": (np.ones(4), constant)})[0])
    )
