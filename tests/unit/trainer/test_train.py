"""Stage 3: estimators and networks train, stop early, and survive a load + predict round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kubetrain_trainer.data.load import DataSource, LoadedData, load
from kubetrain_trainer.errors import InvalidSpecError
from kubetrain_trainer.models.catalogue import make_estimator
from kubetrain_trainer.models.torch_train import TrainingSpec
from kubetrain_trainer.models.train import ModelSpec, TrainResult, train
from kubetrain_trainer.predict import load_model
from kubetrain_trainer.preparation.spec import Arrays, PreparedData, PrepSpec, TextFeatures
from kubetrain_trainer.preparation.stage import prepare


def _fit(dataset: str, prep: PrepSpec, model: ModelSpec) -> tuple[PreparedData, TrainResult]:
    prepared = prepare(load(DataSource(dataset=dataset)), prep)
    result = train(model, prep.task, prepared.train, prepared.validation, prepared.preprocessor)
    return prepared, result


def _accuracy(result: TrainResult, arrays: Arrays) -> float:
    pred, _ = result.model.predict_arrays(arrays.x)
    return float((pred == arrays.y).mean())


def test_unknown_hyperparameter_names_the_valid_ones() -> None:
    with pytest.raises(
        InvalidSpecError, match=r"no hyperparameter.*n_trees.*valid ones:.*n_estimators"
    ):
        make_estimator("random-forest", "classification", {"n_trees": 3}, 0)
    with pytest.raises(InvalidSpecError, match="cannot be used for regression"):
        make_estimator("gaussian-nb", "regression", {}, 0)


@pytest.mark.parametrize(
    ("dataset", "prep", "name", "hyper", "floor"),
    [
        ("wine", {}, "mlp", {"hidden_units": [32], "batch_norm": True}, 0.9),
        ("digits", {"image_shape": (1, 8, 8)}, "cnn", {"channels": [8, 16], "hidden_units": 32},
         0.9),
        ("sentiment-mini", {"text": TextFeatures("text", "tokens", max_length=24)}, "text-cnn",
         {"embedding_dim": 16, "num_filters": 16, "kernel_sizes": [2, 3]}, 0.8),
        ("sentiment-mini", {"text": TextFeatures("text", "tokens", max_length=24)}, "text-lstm",
         {"embedding_dim": 16, "hidden_size": 16}, 0.75),
    ],
)  # fmt: skip
def test_networks_learn_their_task(
    dataset: str, prep: dict[str, Any], name: str, hyper: dict[str, Any], floor: float
) -> None:
    target = "label" if dataset == "sentiment-mini" else "target"
    training = TrainingSpec(epochs=8, batch_size=32, learning_rate=0.01, patience=3)
    prepared, result = _fit(
        dataset, PrepSpec(task="classification", target=target, **prep),
        ModelSpec(name, hyper, training),
    )  # fmt: skip
    assert prepared.test is not None
    assert _accuracy(result, prepared.test) >= floor
    assert 1 <= result.epochs_run <= 8


def test_sequence_model_forecasts_better_than_repeating_the_last_value() -> None:
    prep = PrepSpec(task="forecasting", target="SUNACTIVITY", time_column="YEAR", horizon=1,
                    lookback=12, test=0.2, validation=0.15)  # fmt: skip
    training = TrainingSpec(epochs=25, learning_rate=0.01, batch_size=16, patience=5)
    prepared, result = _fit("sunspots", prep, ModelSpec("gru", {"hidden_size": 16}, training))
    assert prepared.test is not None
    pred, _ = result.model.predict_arrays(prepared.test.x)
    model_mae = np.abs(pred.ravel() - prepared.test.y.ravel()).mean()
    naive_mae = np.abs(prepared.test.y.ravel()).mean()  # relative windows: naive predicts 0
    assert model_mae < 0.85 * naive_mae


def test_early_stopping_stops_and_keeps_the_best_epoch() -> None:
    training = TrainingSpec(epochs=200, learning_rate=0.05, patience=2, min_delta=0.01)
    _, result = _fit(
        "iris", PrepSpec(task="classification", target="target"),
        ModelSpec("mlp", {"hidden_units": [16]}, training),
    )  # fmt: skip
    assert result.stopped_early and result.epochs_run < 200
    best = min(h["val_loss"] for h in result.history)
    assert best == pytest.approx(min(h["val_loss"] for h in result.history[: result.epochs_run]))


@pytest.mark.parametrize("name", ["gradient-boosting", "mlp"])
def test_saved_model_round_trip_predicts_on_raw_rows(tmp_path: Path, name: str) -> None:
    data = load(DataSource(dataset="breast-cancer"))
    prepared = prepare(data, PrepSpec(task="classification", target="target"))
    spec = ModelSpec(name, {"n_estimators": 20} if name != "mlp" else {},
                     TrainingSpec(epochs=3))  # fmt: skip
    result = train(
        spec, "classification", prepared.train, prepared.validation, prepared.preprocessor
    )
    result.model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    rows = data.train.drop(columns=["target"]).head(20)
    assert np.array_equal(loaded.predict(rows), result.model.predict(rows))
    assert set(loaded.predict(rows)) <= {0, 1}
    probabilities = loaded.predict_proba(rows)
    assert probabilities is not None and probabilities.shape == (20, 2)


def test_forecaster_round_trip_predicts_the_next_horizon(tmp_path: Path) -> None:
    data = load(DataSource(dataset="co2"))
    prep = PrepSpec(task="forecasting", target="co2", time_column="date", horizon=4, lookback=52)
    prepared = prepare(data, prep)
    result = train(ModelSpec("ridge", {"alpha": 1.0}), "forecasting", prepared.train, None,
                   prepared.preprocessor)  # fmt: skip
    result.model.save(tmp_path / "m")
    forecast = load_model(tmp_path / "m").predict(data.train.iloc[:-4])
    actual = data.train["co2"].to_numpy()[-4:]
    assert forecast.shape == (4,)
    assert np.abs(forecast - actual).max() < 3.0  # ppm


def test_balanced_class_weights_lift_the_minority_class() -> None:
    from tests.support.manifests import manifest
    from tests.support.trainer import config_of

    from kubetrain.api import check_training_job

    rng = np.random.default_rng(0)
    n = 600
    y = (rng.random(n) < 0.08).astype(int)  # 8% positives
    x = rng.normal(size=n) + 1.2 * y
    frame = pd.DataFrame({"x": x, "y": y})
    prep = PrepSpec(task="classification", target="y", stratify=True, seed=2)
    prepared = prepare(LoadedData(frame, None, None, "h", "t"), prep)
    assert prepared.test is not None
    recalls = {}
    for weights in ("none", "balanced"):
        model = ModelSpec("logistic-regression", {}, class_weights=weights)
        result = train(model, "classification", prepared.train, None, prepared.preprocessor)
        pred, _ = result.model.predict_arrays(prepared.test.x)
        recalls[weights] = float(pred[prepared.test.y == 1].mean())
    assert recalls["balanced"] > recalls["none"] + 0.3

    spec = {
        "problem": {"task": "classification", "target": "target",
                    "objective": {"metric": "balanced-accuracy"}},
        "data": {"dataset": "breast-cancer"},
        "preparation": {"classWeights": "balanced"},
        "model": {"builtin": {"name": "knn"}},
    }  # fmt: skip
    _, errors = check_training_job(manifest(spec), profiles={})
    errors = [e for e in errors if not e.path.startswith("spec.compute")]
    assert [e.path for e in errors] == ["spec.preparation.classWeights"]
    assert "knn does not train with row weights" in errors[0].message
    spec["model"] = {"builtin": {"name": "lightgbm"}}
    assert config_of(spec).model.class_weights == "balanced"
