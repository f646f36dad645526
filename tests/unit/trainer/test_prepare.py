"""Stage 2: cleaning, splits, folds, and transformations fitted on training rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubetrain_trainer.data import DataSource, LoadedData, load
from kubetrain_trainer.prepare import PrepSpec, TextFeatures, prepare


def _loaded(frame: pd.DataFrame) -> LoadedData:
    return LoadedData(train=frame, validation=None, test=None, content_hash="x", description="t")


def test_scaling_is_fitted_on_the_training_split_only():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "y": rng.integers(0, 2, 400)})
    # Make validation/test rows very different: leakage would pull the mean towards them.
    frame.loc[frame.index[-100:], "x"] += 100
    prepared = prepare(_loaded(frame), PrepSpec(task="classification", target="y", seed=1))
    assert abs(prepared.train.x[:, 0].mean()) < 1e-6  # standardised with its own statistics
    scaler = prepared.preprocessor.columns_transformer.named_transformers_["num"]["scale"]
    assert (
        len(prepared.train) == 240 and len(prepared.validation) == 80 and len(prepared.test) == 80
    )
    # The fitted mean is the training rows' mean, not the mean of all rows.
    assert scaler.mean_[0] != pytest.approx(frame["x"].mean())


def test_duplicates_are_dropped_before_splitting():
    frame = pd.DataFrame({"x": list(range(50)) * 2, "y": [0, 1] * 50})
    prepared = prepare(_loaded(frame), PrepSpec(task="classification", target="y"))
    assert prepared.rows_dropped["duplicates"] == 50
    total = len(prepared.train) + len(prepared.validation) + len(prepared.test)
    assert total == 50


def test_missing_values_strategies_and_categorical_encoding():
    frame = pd.DataFrame(
        {
            "num": [1.0, np.nan, 3.0, 4.0] * 10,
            "cat": ["a", "b", None, "a"] * 10,
            "y": [1.0, 2.0, 3.0, 4.0] * 10,
            "id": range(40),
        }
    )
    spec = PrepSpec(task="regression", target="y", missing="constant", fill_value="0", test=0.25)
    prepared = prepare(_loaded(frame), spec)
    assert not np.isnan(prepared.train.x).any()
    names = prepared.preprocessor.feature_names
    assert {"cat_a", "cat_b", "cat_0"} <= set(names)  # one-hot, the constant fills categories
    dropped = prepare(_loaded(frame), PrepSpec(task="regression", target="y", missing="drop"))
    assert dropped.rows_dropped["missing_values"] == 20


def test_stratified_split_keeps_class_proportions():
    frame = pd.DataFrame({"x": range(200), "y": [0] * 180 + [1] * 20})
    spec = PrepSpec(task="classification", target="y", stratify=True, test=0.25, validation=0.25)
    prepared = prepare(_loaded(frame), spec)
    assert (prepared.test.y == 1).sum() == 5


def test_k_fold_fits_one_preprocessor_per_fold():
    data = load(DataSource(dataset="diabetes"))
    prepared = prepare(data, PrepSpec(task="regression", target="target", folds=4, test=0))
    assert len(prepared.folds) == 4
    assert prepared.test is None
    sizes = [len(f.validation) for f in prepared.folds]
    assert sum(sizes) == len(data.train)
    assert len({id(f.preprocessor) for f in prepared.folds}) == 4


def test_forecasting_splits_chronologically_and_windows_are_relative():
    data = load(DataSource(dataset="co2"))
    spec = PrepSpec(
        task="forecasting", target="co2", time_column="date", horizon=4, lookback=52,
        validation=0.15, test=0.15,
    )  # fmt: skip
    prepared = prepare(data, spec)
    assert prepared.train.x.shape[1] == 52 and prepared.train.y.shape[1] == 4
    # The last training target precedes every test target: offsets grow with time here.
    assert prepared.train.offset.max() < prepared.test.offset.min()
    # Back to ppm: inverse of the (relative, scaled) target equals the raw series.
    series = data.train["co2"].interpolate().to_numpy()
    restored = prepared.preprocessor.inverse_target(prepared.test.y, prepared.test.offset)
    assert restored[-1, -1] == pytest.approx(series[-1])


def test_text_becomes_tfidf_or_token_ids():
    data = load(DataSource(dataset="sentiment-mini"))
    tfidf = prepare(
        data, PrepSpec(task="classification", target="label", text=TextFeatures("text"))
    )
    assert tfidf.n_features > 100
    tokens = prepare(
        data,
        PrepSpec(
            task="classification", target="label",
            text=TextFeatures("text", representation="tokens", max_length=16, vocab_size=50),
        ),
    )  # fmt: skip
    assert tokens.train.x.shape[1] == 16
    assert tokens.train.x.max() < 50 and tokens.preprocessor.vocab_size <= 50
