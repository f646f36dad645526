"""Stage 2, preparation: clean, split, and fit every transformation on the training split only.

Input: a `LoadedData` and a `PrepSpec`. Output: `PreparedData`, numeric arrays for the training,
validation and test splits (or k folds), plus the fitted `Preprocessor` that turns raw rows into
model inputs at prediction time — it is saved with the model, so what was learned on the training
split is what is applied to new data.

Rules that keep the held-out numbers honest:
- nothing is dropped silently: every removed row is counted by reason (`rows_dropped`), and
  duplicate rows are kept unless `drop_duplicates` (then removed before splitting, so the same
  row cannot land in train and test) but always counted as a data-quality finding (`quality`);
- imputation, scaling, encoding, vocabularies and target scaling are fitted on the training rows
  of each split or fold, never on validation or test rows;
- time series are split chronologically (test = the most recent stretch); windows use earlier
  values as inputs, which is what a forecaster sees in production, but their targets lie inside
  their own split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kubetrain.api.enums import Encoding, MissingStrategy, Scaling
from kubetrain_trainer.data.columns import (
    ColumnSpec,
    DatetimeEncoder,
    apply_types,
    datetime_columns,
    feature_columns,
    id_like_columns,
    unseen_categories,
)
from kubetrain_trainer.data.load import LoadedData, check_target
from kubetrain_trainer.errors import DataError
from kubetrain_trainer.evaluation.baselines import Series, detect_season

TASKS = ("classification", "regression", "forecasting")
# The API's own spellings (kubetrain.api.enums), the one vocabulary of the preparation options.
MISSING = tuple(str(m) for m in MissingStrategy)
SCALING = tuple(str(s) for s in Scaling)
ENCODING = tuple(str(e) for e in Encoding)


@dataclass(frozen=True)
class TextFeatures:
    """How a text column becomes features: TF-IDF (scikit-learn) or token ids (networks)."""

    column: str
    representation: str = "tfidf"  # tfidf | tokens
    max_features: int = 20000
    ngram_max: int = 2
    vocab_size: int = 20000
    max_length: int = 256


@dataclass(frozen=True)
class PrepSpec:
    task: str
    target: str
    drop_duplicates: bool = False
    columns: ColumnSpec = field(default_factory=ColumnSpec)
    missing: str | None = None  # None: interpolate for forecasting, median otherwise
    fill_value: float | str | None = None
    scaling: str = "standard"
    encoding: str = "one-hot"
    validation: float = 0.2
    test: float = 0.2
    seed: int = 42
    stratify: bool = True
    folds: int | None = None  # k-fold cross-validation over the non-test rows
    time_column: str | None = None
    horizon: int = 1
    lookback: int = 24
    season: int | None = None  # forecasting: detected from the training series when None
    text: TextFeatures | None = None
    image_shape: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        # The API validated the spec; an unset missing-value strategy is the task's default.
        if self.missing is None:
            default = "interpolate" if self.task == "forecasting" else "median"
            object.__setattr__(self, "missing", default)


@dataclass
class Arrays:
    x: np.ndarray
    y: np.ndarray
    offset: np.ndarray | None = None  # forecasting: each window's last observed value

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Fold:
    train: Arrays
    validation: Arrays
    preprocessor: Preprocessor


@dataclass
class PreparedData:
    train: Arrays
    validation: Arrays | None
    test: Arrays | None  # None with cross-validation or `split.test: 0`
    preprocessor: Preprocessor
    folds: list[Fold] = field(default_factory=list)
    rows_dropped: dict[str, int] = field(default_factory=dict)
    """Rows the preparation removed, by reason (missing_target, missing_values, duplicates)."""
    quality: dict[str, Any] = field(default_factory=dict)
    """Data-quality findings: duplicate rows, ID-like columns, unseen categories per split."""
    series: Series | None = None
    """Forecasting: the whole series and its layout, for the naive baselines."""

    @property
    def classes(self) -> list[Any] | None:
        return self.preprocessor.classes

    @property
    def n_features(self) -> int:
        return int(self.train.x.shape[1])


# ---------------------------------------------------------------------------------------------
# Preprocessors: fitted on training rows, pickled with the model.


class Preprocessor:
    """Turns raw rows into model inputs and model outputs back into target values."""

    task: str
    classes: list[Any] | None = None
    feature_names: list[str]
    input_kind: str = "tabular"  # tabular | image | tokens | window
    image_shape: tuple[int, int, int] | None = None
    vocab_size: int = 0

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def inverse_target(self, y: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        return y


def _number(value: float | str | None) -> float | str | None:
    """`missing.fillValue` is a string in the API; numeric columns need it as a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value


def _scaler(kind: str) -> Any:
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    return {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}[kind]()


_TOKEN = re.compile(r"[a-z0-9']+")


class TokenVectorizer:
    """Words → ids in order, vocabulary fitted on training texts (0 = padding and unknown)."""

    def __init__(self, max_tokens: int = 256, vocab_size: int = 20000) -> None:
        self.max_tokens = max_tokens
        self.vocab_size = vocab_size
        self.vocab: dict[str, int] = {}

    @staticmethod
    def _terms(text: str) -> list[str]:
        return _TOKEN.findall(str(text).lower())

    def fit(self, texts: pd.Series) -> TokenVectorizer:
        counts: dict[str, int] = {}
        for text in texts:
            for term in self._terms(text):
                counts[term] = counts.get(term, 0) + 1
        # The most frequent words, ties by name, so the vocabulary is deterministic.
        kept = sorted(counts, key=lambda t: (-counts[t], t))[: self.vocab_size - 1]
        self.vocab = {t: i + 1 for i, t in enumerate(kept)}
        return self

    def transform(self, texts: pd.Series) -> np.ndarray:
        out = np.zeros((len(texts), self.max_tokens), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.vocab[t] for t in self._terms(text) if t in self.vocab][: self.max_tokens]
            out[row, : len(ids)] = ids
        return out


class TabularPreprocessor(Preprocessor):
    """Numeric, categorical and (one) text column; images are numeric pixel columns."""

    def __init__(self, spec: PrepSpec) -> None:
        self.spec = spec
        self.task = spec.task
        self.image_shape = spec.image_shape
        self.input_kind = "image" if spec.image_shape else "tabular"
        self.target_scaler: Any = None
        self.columns_transformer: Any = None
        self.text_columns: list[str] = []
        self.last_unseen_categories: dict[str, int] = {}
        """Filled by every `transform`: rows per column whose category training never saw."""

    def fit(self, frame: pd.DataFrame, all_labels: pd.Series | None = None) -> TabularPreprocessor:
        from sklearn.compose import ColumnTransformer
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

        spec = self.spec
        self.columns = feature_columns(frame, spec.target, spec.columns)
        text = spec.text
        text_col = text.column if text is not None else None
        if text_col is not None and text_col not in self.columns:
            raise DataError(f"the text column {text_col!r} is not in the data.")
        raw = apply_types(frame[self.columns], spec.columns.types)
        dates = [
            c for c in datetime_columns(raw, self.columns, spec.columns.types) if c != text_col
        ]
        self.datetimes = DatetimeEncoder(
            spec.columns.datetime_parts, spec.columns.datetime_cyclic
        ).fit(raw, dates)
        features = self.datetimes.transform(raw)
        self.text_columns = [
            c for c in features.columns if spec.columns.types.get(c) == "text" and c != text_col
        ]
        plain = [c for c in features.columns if c != text_col and c not in self.text_columns]
        numeric = [c for c in plain if pd.api.types.is_numeric_dtype(features[c])]
        categorical = [c for c in plain if c not in numeric]
        if not plain and not self.text_columns and text_col is None:
            raise DataError("the data has no feature columns besides the target.")

        if text is not None and text.representation == "tokens":
            self.input_kind = "tokens"
            self.tokens = TokenVectorizer(text.max_length, text.vocab_size).fit(
                features[text.column]
            )
            self.vocab_size = len(self.tokens.vocab) + 1
            self.feature_names = [f"token_{i}" for i in range(self.tokens.max_tokens)]
            self.columns_transformer = None
        else:
            # scikit-learn spells most-frequent with an underscore.
            strategy = "median" if spec.missing == "drop" else str(spec.missing).replace("-", "_")
            fill = _number(spec.fill_value) if spec.missing == "constant" else None
            num_steps: list[tuple[str, Any]] = [
                ("impute", SimpleImputer(strategy=strategy, fill_value=fill))
            ]
            if spec.scaling != "none":
                num_steps.append(("scale", _scaler(spec.scaling)))
            cat_encoder: Any = (
                OneHotEncoder(handle_unknown="ignore", sparse_output=False)
                if spec.encoding == "one-hot"
                else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
            )
            cat_fill = str(spec.fill_value) if spec.missing == "constant" else "__missing__"
            parts: list[tuple[str, Any, Any]] = []
            if numeric:
                parts.append(("num", Pipeline(num_steps), numeric))
            if categorical:
                cat = Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value=cat_fill)),
                        ("encode", cat_encoder),
                    ]
                )
                parts.append(("cat", cat, categorical))
            if text is not None:
                tfidf = TfidfVectorizer(
                    ngram_range=(1, text.ngram_max),
                    max_features=text.max_features,
                    sublinear_tf=True,
                )
                parts.append(("text", tfidf, text.column))
            for col in self.text_columns:
                words = TfidfVectorizer(max_features=5000, sublinear_tf=True)
                parts.append((f"text_{col}", words, col))
            self.columns_transformer = ColumnTransformer(parts, sparse_threshold=0.0)
            self.columns_transformer.fit(self._features(frame))
            self.feature_names = [
                n.split("__", 1)[-1] for n in self.columns_transformer.get_feature_names_out()
            ]

        y = frame[spec.target]
        if spec.task == "classification":
            labels = all_labels if all_labels is not None else y
            self.classes = sorted(pd.unique(labels.dropna()).tolist(), key=str)
            self._class_index = {c: i for i, c in enumerate(self.classes)}
        else:
            self.target_scaler = StandardScaler().fit(
                pd.to_numeric(y).to_numpy(dtype=np.float64).reshape(-1, 1)
            )
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(f"the rows to predict lack the feature columns {missing}.")
        if self.input_kind == "tokens":
            assert self.spec.text is not None
            return self.tokens.transform(frame[self.spec.text.column])
        assert self.columns_transformer is not None
        self.last_unseen_categories = self.unseen_categories(frame)
        features = self._features(frame)
        return np.asarray(self.columns_transformer.transform(features), dtype=np.float32)

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Raw rows → the frame the column transformer reads: typed, datetimes expanded."""
        types = self.spec.columns.types
        features = self.datetimes.transform(apply_types(frame[self.columns], types))
        for col in self._categorical():
            features[col] = features[col].astype("object")
        return features

    def _categorical(self) -> list[str]:
        if self.columns_transformer is None:
            return []
        return [c for n, _, cols in self.columns_transformer.transformers for c in cols
                if n == "cat"]  # fmt: skip

    def unseen_categories(self, frame: pd.DataFrame) -> dict[str, int]:
        """Per categorical column, the rows of `frame` with a value training never saw."""
        fitted = getattr(self.columns_transformer, "named_transformers_", {}).get("cat")
        if fitted is None:
            return {}
        encoder = fitted.named_steps["encode"]
        known = dict(zip(self._categorical(), encoder.categories_, strict=True))
        typed = apply_types(
            frame[[c for c in known if c in frame.columns]], self.spec.columns.types
        )
        return unseen_categories(typed, known)

    def transform_target(self, y: pd.Series) -> np.ndarray:
        if self.task == "classification":
            try:
                return np.array([self._class_index[v] for v in y], dtype=np.int64)
            except KeyError as exc:
                raise DataError(f"label {exc.args[0]!r} was not seen in the data") from None
        values = pd.to_numeric(y).to_numpy(dtype=np.float64).reshape(-1, 1)
        return self.target_scaler.transform(values).ravel().astype(np.float32)

    def inverse_target(self, y: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        if self.task == "classification":
            return np.asarray(self.classes, dtype=object)[np.asarray(y, dtype=int)]
        flat = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        return self.target_scaler.inverse_transform(flat).ravel()


class WindowPreprocessor(Preprocessor):
    """Forecasting: the last `lookback` values → the next `horizon` values.

    Each window is expressed relative to its last observed value and divided by the spread of
    training-split differences, so a model learns the shape of the next steps rather than the
    level — which is what lets trees and small networks follow a trending series.
    """

    input_kind = "window"

    def __init__(self, spec: PrepSpec, exogenous: list[str] | None = None) -> None:
        self.spec = spec
        self.task = spec.task
        self.lookback = spec.lookback
        self.horizon = spec.horizon
        self.exogenous = list(exogenous or [])
        self.feature_names = [f"lag_{spec.lookback - i}" for i in range(spec.lookback)]
        self.feature_names += [f"{c}_last" for c in self.exogenous]

    def fit(self, train_values: np.ndarray, exog: np.ndarray | None = None) -> WindowPreprocessor:
        diffs = np.diff(train_values)
        self.scale = float(np.std(diffs) or 1.0)
        if self.exogenous and exog is not None:
            self.exog_mean = np.nanmean(exog, axis=0)
            self.exog_std = np.where(np.nanstd(exog, axis=0) > 0, np.nanstd(exog, axis=0), 1.0)
        return self

    def _exog(self, rows: np.ndarray) -> np.ndarray:
        """Exogenous values standardised with training statistics; missing ones at the mean."""
        rows = np.asarray(rows, dtype=np.float64)
        return np.nan_to_num((rows - self.exog_mean) / self.exog_std, nan=0.0)

    def windows(
        self, values: np.ndarray, start: int, stop: int, exog: np.ndarray | None = None
    ) -> Arrays:
        """Windows whose targets lie in values[start:stop]; inputs may reach back before start.
        Exogenous columns enter with their values at the last observed step (known then)."""
        xs, ys, offsets = [], [], []
        first = max(start, self.lookback)
        for t in range(first, stop - self.horizon + 1):
            window = values[t - self.lookback : t]
            x = (window - window[-1]) / self.scale
            if self.exogenous and exog is not None:
                x = np.concatenate([x, self._exog(exog[t - 1])])
            xs.append(x)
            ys.append((values[t : t + self.horizon] - window[-1]) / self.scale)
            offsets.append(window[-1])
        if not xs:
            raise DataError(
                f"the series is too short for lookback {self.lookback} and horizon "
                f"{self.horizon} in one of its splits; use a longer series or smaller windows."
            )
        return Arrays(np.asarray(xs, np.float32), np.asarray(ys, np.float32), np.asarray(offsets))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The input window for forecasting after the last row of `frame` (history)."""
        window = self.last_window(frame)
        x = (window - window[-1]) / self.scale
        if self.exogenous:
            if self.spec.time_column and self.spec.time_column in frame.columns:
                frame = frame.sort_values(self.spec.time_column)
            last = frame[self.exogenous].apply(pd.to_numeric, errors="coerce").to_numpy()[-1]
            x = np.concatenate([x, self._exog(last)])
        return x.astype(np.float32).reshape(1, -1)

    def last_window(self, frame: pd.DataFrame) -> np.ndarray:
        values = self._series(frame)
        if len(values) < self.lookback:
            raise DataError(f"forecasting needs at least {self.lookback} past values.")
        return values[-self.lookback :]

    def _series(self, frame: pd.DataFrame) -> np.ndarray:
        if self.spec.time_column and self.spec.time_column in frame.columns:
            frame = frame.sort_values(self.spec.time_column)
        return pd.to_numeric(frame[self.spec.target]).to_numpy(dtype=np.float64)

    def inverse_target(self, y: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        """Back to the series' scale; `offset` holds each window's last observed value."""
        last = 0.0 if offset is None else np.asarray(offset, dtype=np.float64).reshape(-1, 1)
        return np.asarray(y, dtype=np.float64).reshape(len(y), -1) * self.scale + last


# ---------------------------------------------------------------------------------------------


def _clean(
    frame: pd.DataFrame, spec: PrepSpec, dropped: dict[str, int], quality: dict[str, Any]
) -> pd.DataFrame:
    """Drop what the spec says to drop, counting every removed row by its reason."""

    def drop(reason: str, kept: pd.DataFrame) -> pd.DataFrame:
        dropped[reason] = dropped.get(reason, 0) + len(frame) - len(kept)
        return kept

    frame = drop("missing_target", frame.dropna(subset=[spec.target]))
    if spec.missing == "drop":
        frame = drop("missing_values", frame.dropna())
    duplicates = int(frame.duplicated().sum())
    quality["duplicateRows"] = quality.get("duplicateRows", 0) + duplicates
    if spec.drop_duplicates:
        frame = drop("duplicates", frame.drop_duplicates())
    if frame.empty:
        raise DataError(
            "no rows are left after dropping rows with missing values"
            + (" and duplicates." if spec.drop_duplicates else ".")
        )
    return frame.reset_index(drop=True)


def _stratify(frame: pd.DataFrame, spec: PrepSpec) -> pd.Series | None:
    if spec.task != "classification" or not spec.stratify:
        return None
    counts = frame[spec.target].value_counts()
    return frame[spec.target] if counts.min() >= 2 else None


def _tabular_split(
    frame: pd.DataFrame, spec: PrepSpec
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    from sklearn.model_selection import train_test_split

    if len(frame) < 10:
        raise DataError(f"only {len(frame)} usable rows; at least 10 are needed to split.")
    if spec.folds or spec.test == 0:
        rest, test = frame, None
    else:
        rest, test = train_test_split(
            frame, test_size=spec.test, random_state=spec.seed, stratify=_stratify(frame, spec)
        )
    if spec.folds or spec.validation == 0:
        return rest, None, test
    train, val = train_test_split(
        rest,
        test_size=spec.validation / (1 - (spec.test if test is not None else 0)),
        random_state=spec.seed,
        stratify=_stratify(rest, spec),
    )
    return train, val, test


def _fit_tabular(
    train: pd.DataFrame, spec: PrepSpec, labels: pd.Series
) -> tuple[TabularPreprocessor, Arrays]:
    pre = TabularPreprocessor(spec).fit(train, labels)
    return pre, Arrays(pre.transform(train), pre.transform_target(train[spec.target]))


def _apply(pre: TabularPreprocessor, frame: pd.DataFrame, spec: PrepSpec) -> Arrays:
    return Arrays(pre.transform(frame), pre.transform_target(frame[spec.target]))


def prepare(data: LoadedData, spec: PrepSpec) -> PreparedData:
    """Split and transform; every fitted transformation sees training rows only."""
    check_target(data.train, spec.target, spec.task, "the training data")
    if spec.task == "forecasting":
        return _prepare_series(data, spec)
    dropped: dict[str, int] = {}
    quality: dict[str, Any] = {}
    train_df = _clean(data.train, spec, dropped, quality)
    if data.test is not None:
        check_target(data.test, spec.target, spec.task, "the test data")
        test_df = _clean(data.test, spec, dropped, quality)
        rest = train_df
        val_df = None
        if data.validation is not None:
            check_target(data.validation, spec.target, spec.task, "the validation data")
            val_df = _clean(data.validation, spec, dropped, quality)
        elif not spec.folds and spec.validation > 0:
            from sklearn.model_selection import train_test_split

            rest, val_df = train_test_split(
                train_df,
                test_size=spec.validation,
                random_state=spec.seed,
                stratify=_stratify(train_df, spec),
            )
        train_df = rest
    else:
        train_df, val_df, test_df = _tabular_split(train_df, spec)
        if data.validation is not None:
            val_df = _clean(data.validation, spec, dropped, quality)

    labels = pd.concat([f[spec.target] for f in (train_df, val_df, test_df) if f is not None])
    pre, train = _fit_tabular(train_df, spec, labels)
    prepared = PreparedData(
        train=train,
        validation=_apply(pre, val_df, spec) if val_df is not None else None,
        test=_apply(pre, test_df, spec) if test_df is not None else None,
        preprocessor=pre,
        rows_dropped=dropped,
        quality=_findings(quality, pre, train_df, {"validation": val_df, "test": test_df}),
    )
    if spec.folds:
        from sklearn.model_selection import KFold, StratifiedKFold

        splitter: Any = (
            StratifiedKFold(spec.folds, shuffle=True, random_state=spec.seed)
            if _stratify(train_df, spec) is not None
            else KFold(spec.folds, shuffle=True, random_state=spec.seed)
        )
        train_df = train_df.reset_index(drop=True)
        for tr, va in splitter.split(train_df, train_df[spec.target]):
            fold_pre, fold_train = _fit_tabular(train_df.iloc[tr], spec, labels)
            prepared.folds.append(
                Fold(fold_train, _apply(fold_pre, train_df.iloc[va], spec), fold_pre)
            )
    return prepared


def _findings(
    quality: dict[str, Any],
    pre: TabularPreprocessor,
    train: pd.DataFrame,
    held_out: dict[str, pd.DataFrame | None],
) -> dict[str, Any]:
    """Duplicates (counted by `_clean`), ID-like columns, categories unseen in training."""
    quality["idLikeColumns"] = id_like_columns(train, pre.columns)
    unseen = {
        name: counts
        for name, frame in held_out.items()
        if frame is not None and (counts := pre.unseen_categories(frame))
    }
    if unseen:
        quality["unseenCategories"] = unseen
    return quality


def _series_frame(
    frame: pd.DataFrame, spec: PrepSpec, where: str, dropped: dict[str, int], quality: dict
) -> pd.DataFrame:
    """One file of the series: checked, in time order, duplicates counted (and dropped)."""
    check_target(frame, spec.target, spec.task, where)
    if spec.time_column:
        if spec.time_column not in frame.columns:
            raise DataError(f"the time column {spec.time_column!r} is not in {where}.")
        frame = frame.sort_values(spec.time_column, kind="stable")
        repeated = int(frame[spec.time_column].duplicated().sum())
        if repeated:
            quality["duplicateTimestamps"] = quality.get("duplicateTimestamps", 0) + repeated
    duplicates = int(frame.duplicated().sum())
    quality["duplicateRows"] = quality.get("duplicateRows", 0) + duplicates
    if spec.drop_duplicates and duplicates:
        dropped["duplicates"] = dropped.get("duplicates", 0) + duplicates
        frame = frame.drop_duplicates()
    if spec.missing == "drop":
        kept = frame.dropna(subset=[spec.target])
        dropped["missing_target"] = dropped.get("missing_target", 0) + len(frame) - len(kept)
        frame = kept
    return frame


def _exogenous_columns(frame: pd.DataFrame, spec: PrepSpec) -> list[str]:
    """Forecasting: the columns named in features.include (never the target or the time)."""
    if not spec.columns.include:
        return []
    chosen = feature_columns(frame, spec.target, spec.columns)
    return [c for c in chosen if c != spec.time_column]


def _fill_series(values: np.ndarray, train_end: int, spec: PrepSpec, dropped: dict) -> np.ndarray:
    """Missing target values filled as the strategy says, statistics from the training part."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    dropped["interpolated_target" if spec.missing == "interpolate" else "filled_target"] = int(
        missing.sum()
    )
    if spec.missing == "interpolate":
        return pd.Series(values).interpolate(limit_direction="both").to_numpy()
    train = pd.Series(values[:train_end]).dropna()
    fill = {
        "mean": train.mean(),
        "median": train.median(),
        "most-frequent": train.mode().iloc[0] if not train.empty else np.nan,
        "constant": _number(spec.fill_value),
    }[str(spec.missing)]
    return np.where(missing, float(fill), values)


def _series(values: np.ndarray, train_end: int, val_end: int, spec: PrepSpec) -> Series:
    season, source = spec.season, "given"
    if season is None:
        season = detect_season(values[:train_end])
        source = "detected" if season else "none"
    return Series(values, train_end, val_end, spec.lookback, spec.horizon, season, source)


def _prepare_series(data: LoadedData, spec: PrepSpec) -> PreparedData:
    """The series in time order: training file, then the validation and test files if given
    (else the last stretches of the training file), cleaned as the preparation says."""
    dropped: dict[str, int] = {}
    quality: dict[str, Any] = {}
    parts = [("the training data", data.train), ("the validation data", data.validation)]
    parts.append(("the test data", data.test))
    frames = [
        _series_frame(f, spec, where, dropped, quality) if f is not None else None
        for where, f in parts
    ]
    values = np.concatenate(
        [pd.to_numeric(f[spec.target]).to_numpy(np.float64) for f in frames if f is not None]
    )
    n = len(values)
    n_file = [len(f) if f is not None else 0 for f in frames]
    if frames[2] is not None:
        n_test = n_file[2]
    else:
        n_test = max(round(n * spec.test), spec.horizon) if spec.test and not spec.folds else 0
    if frames[1] is not None:
        n_val = n_file[1]
    else:
        n_val = 0 if spec.folds else max(round(n * spec.validation), spec.horizon)
    train_end, val_end = n - n_test - n_val, n - n_test
    if train_end <= spec.lookback + spec.horizon:
        raise DataError(
            f"the series has {n} points: too few for lookback {spec.lookback}, horizon "
            f"{spec.horizon} and the declared splits."
        )
    values = _fill_series(values, train_end, spec, dropped)
    exogenous = _exogenous_columns(data.train, spec)
    exog = (
        np.concatenate(
            [
                f[exogenous].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
                for f in frames
                if f is not None
            ]
        )
        if exogenous
        else None
    )
    pre = WindowPreprocessor(spec, exogenous).fit(
        values[:train_end], exog[:train_end] if exog is not None else None
    )
    prepared = PreparedData(
        train=pre.windows(values, 0, train_end, exog),
        validation=pre.windows(values, train_end, val_end, exog) if n_val else None,
        test=pre.windows(values, val_end, n, exog) if n_test else None,
        preprocessor=pre,
        rows_dropped=dropped,
        quality=quality,
        series=_series(values, train_end, val_end, spec),
    )
    if spec.folds:
        # Expanding-window folds: train on the past, validate on the next stretch.
        edges = np.linspace(spec.lookback + spec.horizon, train_end, spec.folds + 2).astype(int)
        for k in range(1, spec.folds + 1):
            fold_pre = WindowPreprocessor(spec, exogenous).fit(
                values[: edges[k]], exog[: edges[k]] if exog is not None else None
            )
            prepared.folds.append(
                Fold(
                    fold_pre.windows(values, 0, edges[k], exog),
                    fold_pre.windows(values, edges[k], edges[k + 1], exog),
                    fold_pre,
                )
            )
    return prepared
