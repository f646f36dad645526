"""One catalogue: the API's model table, and the trainer's builders for exactly its entries."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import datasets, metrics
from sklearn.model_selection import train_test_split
from tests.support.trainer import run_spec

from kubetrain.api.catalogue import MODELS
from kubetrain.api.enums import ModelName
from kubetrain_trainer.models.catalogue import (
    ESTIMATOR_BUILDERS,
    NETWORK_KINDS,
    estimator_class,
    make_estimator,
)


def test_every_catalogue_entry_has_a_builder_and_every_builder_an_entry() -> None:
    estimators = {str(n) for n, m in MODELS.items() if not m.is_network}
    networks = {str(n) for n, m in MODELS.items() if m.is_network}
    assert set(ESTIMATOR_BUILDERS) == estimators
    assert set(NETWORK_KINDS) == networks
    for name, info in MODELS.items():
        for task, path in info.estimators.items():
            module, _, cls = path.rpartition(".")
            assert hasattr(importlib.import_module(module), cls), f"{name} for {task}: {path}"


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "hist-gradient-boosting"])
@pytest.mark.parametrize("task", ["classification", "regression", "forecasting"])
def test_every_catalogue_default_is_accepted_by_the_estimator(name: str, task: str) -> None:
    defaults = {k: h.default for k, h in MODELS[ModelName(name)].hyperparameters.items()}
    estimator = make_estimator(name, task, defaults, seed=3)
    params = estimator.get_params()
    for key, value in defaults.items():
        assert params[key] == value


def test_gpu_settings_follow_gpus_per_worker() -> None:
    assert make_estimator("xgboost", "regression", {}, 0).get_params()["device"] == "cpu"
    assert make_estimator("xgboost", "regression", {}, 0, gpus=1).get_params()["device"] == "cuda"
    lgbm = make_estimator("lightgbm", "classification", {}, 0, gpus=1).get_params()
    assert lgbm["device_type"] == "gpu"
    assert "device_type" not in make_estimator("lightgbm", "regression", {}, 0).get_params()


def test_estimator_classes_come_from_the_catalogue() -> None:
    assert estimator_class("lightgbm", "forecasting").__name__ == "LGBMRegressor"
    assert estimator_class("tfidf-logistic-regression", "classification").__name__ == (
        "LogisticRegression"
    )


def _spec(name: str, task: str, dataset: str, metric: str, hyper: dict[str, Any]) -> dict[str, Any]:
    return {
        "problem": {"task": task, "target": "target", "objective": {"metric": metric}},
        "data": {"dataset": dataset},
        "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": 4}},
        "model": {"builtin": {"name": name, "hyperparameters": hyper}},
    }


def _plain_library(name: str, hyper: dict[str, Any]) -> Any:
    """The library's own classifier, as a user would write it, without the trainer."""
    import lightgbm
    import xgboost
    from sklearn.ensemble import HistGradientBoostingClassifier

    if name == "lightgbm":
        return lightgbm.LGBMClassifier(**hyper, random_state=4, verbosity=-1)
    if name == "xgboost":
        return xgboost.XGBClassifier(**hyper, random_state=4)
    return HistGradientBoostingClassifier(**hyper, random_state=4)


@pytest.mark.parametrize(
    ("name", "hyper"),
    [
        ("lightgbm", {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 8}),
        ("xgboost", {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 3}),
        ("hist-gradient-boosting", {"max_iter": 200, "learning_rate": 0.05}),
    ],
)
def test_boosted_trees_classify_breast_cancer_like_the_plain_library(
    tmp_path: Path, name: str, hyper: dict[str, Any]
) -> None:
    spec = _spec(name, "classification", "breast-cancer", "accuracy", hyper)
    ours = run_spec(spec, tmp_path).evaluation.test["accuracy"]
    frame = datasets.load_breast_cancer(as_frame=True).frame
    rest, test = train_test_split(frame, test_size=0.2, random_state=4)
    train, _ = train_test_split(rest, test_size=0.25, random_state=4)
    plain = _plain_library(name, hyper)
    plain.fit(train.drop(columns="target"), train.target)
    baseline = metrics.accuracy_score(test.target, plain.predict(test.drop(columns="target")))
    assert ours >= 0.93
    assert abs(ours - baseline) <= 0.03


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_boosted_trees_forecast_on_lags(tmp_path: Path, name: str) -> None:
    spec = {
        "problem": {
            "task": "forecasting", "target": "co2", "timeColumn": "date", "horizon": 4,
            "lookback": 52, "objective": {"metric": "mae"},
        },
        "data": {"dataset": "co2"},
        "preparation": {"split": {"validation": 0.15, "test": 0.15}},
        "model": {"builtin": {"name": name, "hyperparameters": {"n_estimators": 100}}},
    }  # fmt: skip
    result = run_spec(spec, tmp_path).evaluation
    assert result.test["mae"] < 1.5  # ppm
    assert np.isfinite(result.test["rmse"])
