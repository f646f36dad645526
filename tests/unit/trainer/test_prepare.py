"""Stage 2: cleaning, splits, folds, and transformations fitted on training rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubetrain_trainer.data.columns import ColumnSpec
from kubetrain_trainer.data.load import DataSource, LoadedData, load
from kubetrain_trainer.data.quality import quality_warnings
from kubetrain_trainer.errors import DataError
from kubetrain_trainer.preparation.preprocessors import TabularPreprocessor
from kubetrain_trainer.preparation.spec import PrepSpec, TextFeatures
from kubetrain_trainer.preparation.stage import prepare


def _loaded(frame: pd.DataFrame) -> LoadedData:
    return LoadedData(train=frame, validation=None, test=None, content_hash="x", description="t")


def test_scaling_is_fitted_on_the_training_split_only() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "y": rng.integers(0, 2, 400)})
    # Make validation/test rows very different: leakage would pull the mean towards them.
    frame.loc[frame.index[-100:], "x"] += 100
    prepared = prepare(_loaded(frame), PrepSpec(task="classification", target="y", seed=1))
    assert abs(prepared.train.x[:, 0].mean()) < 1e-6  # standardised with its own statistics
    assert isinstance(prepared.preprocessor, TabularPreprocessor)
    scaler = prepared.preprocessor.columns_transformer.named_transformers_["num"]["scale"]
    assert prepared.validation is not None and prepared.test is not None
    assert (
        len(prepared.train) == 240 and len(prepared.validation) == 80 and len(prepared.test) == 80
    )
    # The fitted mean is the training rows' mean, not the mean of all rows.
    assert scaler.mean_[0] != pytest.approx(frame["x"].mean())


def test_duplicates_are_kept_and_counted_by_default() -> None:
    frame = pd.DataFrame({"x": list(range(50)) * 2, "y": [0, 1] * 50})
    prepared = prepare(_loaded(frame), PrepSpec(task="classification", target="y"))
    assert prepared.rows_dropped.get("duplicates", 0) == 0
    assert prepared.quality["duplicateRows"] == 50
    assert prepared.validation is not None and prepared.test is not None
    total = len(prepared.train) + len(prepared.validation) + len(prepared.test)
    assert total == 100
    warnings = quality_warnings(prepared.rows_dropped, prepared.quality)
    assert any("50 duplicate rows; they were kept" in w for w in warnings)


def test_duplicates_are_dropped_before_splitting_when_asked() -> None:
    frame = pd.DataFrame({"x": list(range(50)) * 2, "y": [0, 1] * 50})
    spec = PrepSpec(task="classification", target="y", drop_duplicates=True)
    prepared = prepare(_loaded(frame), spec)
    assert prepared.rows_dropped["duplicates"] == 50
    assert prepared.validation is not None and prepared.test is not None
    total = len(prepared.train) + len(prepared.validation) + len(prepared.test)
    assert total == 50
    warnings = quality_warnings(prepared.rows_dropped, prepared.quality)
    assert warnings[0] == "preparation: 50 rows removed: 50 duplicate rows (dropDuplicates: true)."


def test_every_removed_row_is_counted_by_reason() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, np.nan, 3.0, 4.0, 5.0] * 8, "y": [1.0, 2.0, np.nan, 4.0, 5.0] * 8}
    )
    spec = PrepSpec(task="regression", target="y", missing="drop")
    prepared = prepare(_loaded(frame), spec)
    assert prepared.rows_dropped == {"missing_target": 8, "missing_values": 8}
    assert prepared.validation is not None and prepared.test is not None
    kept = len(prepared.train) + len(prepared.validation) + len(prepared.test)
    assert kept == 40 - 16
    assert (
        "16 rows removed: 8 the target is missing; 8 a feature is missing"
        in (quality_warnings(prepared.rows_dropped, prepared.quality)[0])
    )


def test_missing_values_strategies_and_categorical_encoding() -> None:
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


def test_stratified_split_keeps_class_proportions() -> None:
    frame = pd.DataFrame({"x": range(200), "y": [0] * 180 + [1] * 20})
    spec = PrepSpec(task="classification", target="y", stratify=True, test=0.25, validation=0.25)
    prepared = prepare(_loaded(frame), spec)
    assert prepared.test is not None
    assert (prepared.test.y == 1).sum() == 5


def test_k_fold_fits_one_preprocessor_per_fold() -> None:
    data = load(DataSource(dataset="diabetes"))
    prepared = prepare(data, PrepSpec(task="regression", target="target", folds=4, test=0))
    assert len(prepared.folds) == 4
    assert prepared.test is None
    sizes = [len(f.validation) for f in prepared.folds]
    assert sum(sizes) == len(data.train)
    assert len({id(f.preprocessor) for f in prepared.folds}) == 4


def test_forecasting_splits_chronologically_and_windows_are_relative() -> None:
    data = load(DataSource(dataset="co2"))
    spec = PrepSpec(
        task="forecasting", target="co2", time_column="date", horizon=4, lookback=52,
        validation=0.15, test=0.15,
    )  # fmt: skip
    prepared = prepare(data, spec)
    assert prepared.train.x.shape[1] == 52 and prepared.train.y.shape[1] == 4
    assert prepared.test is not None
    assert prepared.train.offset is not None and prepared.test.offset is not None
    # The last training target precedes every test target: offsets grow with time here.
    assert prepared.train.offset.max() < prepared.test.offset.min()
    # Back to ppm: inverse of the (relative, scaled) target equals the raw series.
    series = data.train["co2"].interpolate().to_numpy()
    restored = prepared.preprocessor.inverse_target(prepared.test.y, prepared.test.offset)
    assert restored[-1, -1] == pytest.approx(series[-1])


def test_text_becomes_tfidf_or_token_ids() -> None:
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


def _customers(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "zip": rng.choice([10115, 20095, 80331], n),
            "signed_up": pd.date_range("2024-01-01", periods=n, freq="17h").astype(str),
            "spend": rng.normal(100, 20, n),
        }
    )


def test_include_and_exclude_select_the_feature_columns() -> None:
    frame = _customers()
    spec = PrepSpec(
        task="regression",
        target="spend",
        columns=ColumnSpec(include=("customer_id", "age", "zip"), exclude=("customer_id",)),
    )
    prepared = prepare(_loaded(frame), spec)
    assert isinstance(prepared.preprocessor, TabularPreprocessor)
    assert prepared.preprocessor.columns == ["age", "zip"]
    assert prepared.preprocessor.feature_names == ["age", "zip"]
    assert prepared.quality["idLikeColumns"] == []


def test_unknown_columns_in_the_feature_lists_name_the_field() -> None:
    spec = PrepSpec(task="regression", target="spend", columns=ColumnSpec(exclude=("nope",)))
    with pytest.raises(DataError, match=r"preparation.features.exclude .* nope"):
        prepare(_loaded(_customers()), spec)


def test_id_like_columns_are_flagged_not_dropped() -> None:
    prepared = prepare(_loaded(_customers()), PrepSpec(task="regression", target="spend"))
    # A date string left untyped is a distinct category per row as well: flagged too.
    assert prepared.quality["idLikeColumns"] == ["customer_id", "signed_up"]
    assert isinstance(prepared.preprocessor, TabularPreprocessor)
    assert "customer_id" in prepared.preprocessor.columns
    warnings = quality_warnings(prepared.rows_dropped, prepared.quality)
    assert any("customer_id, signed_up look like identifiers" in w for w in warnings)


def test_type_overrides_and_datetime_parts_with_cyclic_encodings() -> None:
    spec = PrepSpec(
        task="regression",
        target="spend",
        columns=ColumnSpec(
            exclude=("customer_id",), types={"zip": "categorical", "signed_up": "datetime"}
        ),
    )
    prepared = prepare(_loaded(_customers()), spec)
    names = prepared.preprocessor.feature_names
    assert {"zip_10115", "zip_20095", "zip_80331"} <= set(names)  # one-hot, not a number
    assert {"signed_up_hour", "signed_up_hour_sin", "signed_up_hour_cos"} <= set(names)
    assert {"signed_up_day_of_week_sin", "signed_up_month"} <= set(names)
    assert "signed_up_year" not in names  # constant in the training rows
    # The same columns come out for new rows, datetimes parsed from strings.
    assert prepared.preprocessor.transform(_customers(5)).shape[1] == len(names)


def test_cyclic_only_datetime_features() -> None:
    spec = PrepSpec(
        task="regression",
        target="spend",
        columns=ColumnSpec(
            include=("signed_up",), types={"signed_up": "datetime"}, datetime_parts=False
        ),
    )
    names = prepare(_loaded(_customers()), spec).preprocessor.feature_names
    assert names and all(n.endswith(("_sin", "_cos")) for n in names)


def test_unseen_categories_are_counted_in_held_out_rows_and_at_prediction() -> None:
    train = pd.DataFrame({"colour": ["red", "blue"] * 20, "y": [0, 1] * 20})
    test = pd.DataFrame({"colour": ["red", "green", "green", "pink"], "y": [0, 1, 1, 0]})
    data = LoadedData(train=train, validation=None, test=test, content_hash="x", description="t")
    prepared = prepare(data, PrepSpec(task="classification", target="y"))
    assert prepared.quality["unseenCategories"] == {"test": {"colour": 3}}
    pre = prepared.preprocessor
    assert isinstance(pre, TabularPreprocessor)
    pre.transform(pd.DataFrame({"colour": ["violet", "red"]}))
    assert pre.last_unseen_categories == {"colour": 1}
    warnings = quality_warnings(prepared.rows_dropped, prepared.quality)
    assert any("the test rows hold categories" in w and "colour: 3 rows" in w for w in warnings)
