"""Stage 5: metrics match scikit-learn, thresholds, and the training-health warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from kubetrain_trainer.evaluation import health
from kubetrain_trainer.evaluation.metrics import (
    Objective,
    check_objective,
    cross_validation_summary,
    score,
)


def test_classification_metrics_match_scikit_learn() -> None:
    y = np.array([0, 1, 2, 2, 1, 0, 1, 2])
    pred = np.array([0, 2, 2, 2, 1, 0, 1, 1])
    proba = np.eye(3)[pred] * 0.8 + 0.2 / 3
    out = score("classification", y, pred, proba, 3)
    assert out["accuracy"] == skm.accuracy_score(y, pred)
    assert out["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert out["roc-auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert out["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()


def test_regression_and_forecasting_metrics() -> None:
    y, pred = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    out = score("forecasting", y, pred)
    assert out["mae"] == pytest.approx(0.5)
    assert out["rmse"] == pytest.approx(math.sqrt((0.25 + 1) / 3))
    assert out["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert out["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    assert "smape" in out and "smape" not in score("regression", y, pred)


def test_threshold_check_respects_the_direction() -> None:
    assert check_objective({"accuracy": 0.91}, Objective("accuracy", "maximize", 0.9)).passed
    assert not check_objective({"rmse": 3.0}, Objective("rmse", "minimize", 2.0)).passed
    assert check_objective({"rmse": 3.0}, Objective("rmse", "minimize")).passed is None


def test_cross_validation_mean_and_std() -> None:
    folds = [{"r2": 0.4}, {"r2": 0.6}]
    assert cross_validation_summary(folds, "regression")["r2"] == {
        "mean": 0.5, "std": pytest.approx(0.1), "folds": [0.4, 0.6]
    }  # fmt: skip


def reasons(found: list[dict[str, str]]) -> list[str]:
    return [f["reason"] for f in found]


def test_findings_for_overfitting_nan_exploding_and_vanishing() -> None:
    assert reasons(health.overfitting({"accuracy": 1.0}, {"accuracy": 0.7}, "accuracy", True)) == [
        "Overfitting"
    ]
    assert health.overfitting({"accuracy": 0.95}, {"accuracy": 0.93}, "accuracy", True) == []
    nan = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": float("nan")}]
    assert "NaN" in health.live_findings(nan)[0]["message"]
    boom = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 500.0}]
    assert reasons(health.live_findings(boom)) == ["ExplodingLoss"]
    flat = [{"epoch": e, "train_loss": 0.7, "grad_norm": 1e-9} for e in range(1, 5)]
    assert reasons(health.live_findings(flat)) == ["VanishingGradients"]
    assert reasons(health.overfitting({"rmse": 1.0}, {"rmse": 2.0}, "rmse", False)) == [
        "Overfitting"
    ]


def test_saturated_activations_are_found_from_the_history() -> None:
    pinned = [{"epoch": e, "train_loss": 0.5, "saturated": 0.8} for e in (1, 2)]
    assert reasons(health.live_findings(pinned)) == ["SaturatedActivations"]
    assert health.live_findings([{"epoch": 1, "train_loss": 0.5, "saturated": 0.1}]) == []


def test_saturation_counts_dead_relus_and_pinned_tanh_units() -> None:
    import torch
    from torch import nn

    dead_linear = nn.Linear(2, 4)
    dead = nn.Sequential(dead_linear, nn.ReLU())
    with torch.no_grad():
        dead_linear.weight.zero_()
        dead_linear.bias.copy_(torch.tensor([-1.0, -1.0, -1.0, 1.0]))
    assert health.saturation(dead, torch.randn(8, 2)) == pytest.approx(0.75)
    pinned_linear = nn.Linear(2, 2)
    pinned = nn.Sequential(pinned_linear, nn.Tanh())
    with torch.no_grad():
        pinned_linear.weight.zero_()
        pinned_linear.bias.copy_(torch.tensor([10.0, 0.0]))
    assert health.saturation(pinned, torch.randn(8, 2)) == pytest.approx(0.5)
    assert health.saturation(nn.Linear(2, 2), torch.randn(3, 2)) is None


def test_underfitting_against_the_naive_prediction() -> None:
    y_train = np.array([0, 0, 0, 1])
    y_test = np.array([0, 0, 1, 0])
    naive, what = health.naive_scores("classification", y_train, y_test, 2)
    assert naive["accuracy"] == skm.accuracy_score(y_test, [0, 0, 0, 0])
    assert naive["roc-auc"] == pytest.approx(0.5)
    assert what == "always the most frequent class"
    assert reasons(health.underfitting(0.75, naive["accuracy"], "accuracy", True, what)) == [
        "Underfitting"
    ]
    assert health.underfitting(0.9, naive["accuracy"], "accuracy", True, what) == []
    regression, _ = health.naive_scores("regression", np.array([1.0, 3.0]), np.array([2.0, 4.0]), 0)
    assert regression["mae"] == pytest.approx(1.0)
    assert health.underfitting(1.0, regression["mae"], "mae", False, "mean") != []


def test_mape_with_zero_actuals_is_undefined_with_a_warning_never_a_huge_number() -> None:
    from kubetrain_trainer.evaluation.metrics import undefined_metric_warnings

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
