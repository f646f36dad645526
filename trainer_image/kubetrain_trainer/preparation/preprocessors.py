"""The fitted transforms: raw rows in, model inputs out, model outputs back to target units.

A `Preprocessor` is fitted on training rows only and saved with the model (pickled into
model.joblib or preprocessor.joblib), so what was learned on the training split is what is
applied to new data at prediction time. `TabularPreprocessor`: imputation, scaling, encoding,
datetime parts, TF-IDF or token ids of a text column, image pixels, target scaling.
`WindowPreprocessor`: a series' lookback windows (and exogenous columns) for forecasting.
"""

from __future__ import annotations

import re
from typing import Any, cast

import numpy as np
import pandas as pd

from kubetrain_trainer.data.columns import (
    ColumnSpec,
    DatetimeEncoder,
    apply_types,
    datetime_columns,
    feature_columns,
    unseen_categories,
)
from kubetrain_trainer.errors import DataError

# PrepSpec, TextFeatures and ColumnSpec are pickled with every preprocessor: models saved before
# the stage packages name them `kubetrain_trainer.prepare.*`, which resolves to this module.
from kubetrain_trainer.preparation.spec import Arrays, PrepSpec, TextFeatures

__all__ = [
    "ColumnSpec",
    "PrepSpec",
    "Preprocessor",
    "TabularPreprocessor",
    "TextFeatures",
    "TokenVectorizer",
    "WindowPreprocessor",
]


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


def as_number(value: float | str | None) -> float | str | None:
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
            fill = as_number(spec.fill_value) if spec.missing == "constant" else None
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
        return cast(np.ndarray, self.target_scaler.transform(values).ravel().astype(np.float32))

    def inverse_target(self, y: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        if self.task == "classification":
            return cast(
                np.ndarray, np.asarray(self.classes, dtype=object)[np.asarray(y, dtype=int)]
            )
        flat = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        return cast(np.ndarray, self.target_scaler.inverse_transform(flat).ravel())


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
        return cast(np.ndarray, np.nan_to_num((rows - self.exog_mean) / self.exog_std, nan=0.0))

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
        return cast(np.ndarray, x.astype(np.float32).reshape(1, -1))

    def last_window(self, frame: pd.DataFrame) -> np.ndarray:
        values = self._series(frame)
        if len(values) < self.lookback:
            raise DataError(f"forecasting needs at least {self.lookback} past values.")
        return values[-self.lookback :]

    def _series(self, frame: pd.DataFrame) -> np.ndarray:
        if self.spec.time_column and self.spec.time_column in frame.columns:
            frame = frame.sort_values(self.spec.time_column)
        return cast(np.ndarray, pd.to_numeric(frame[self.spec.target]).to_numpy(dtype=np.float64))

    def inverse_target(self, y: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        """Back to the series' scale; `offset` holds each window's last observed value."""
        last = 0.0 if offset is None else np.asarray(offset, dtype=np.float64).reshape(-1, 1)
        return np.asarray(y, dtype=np.float64).reshape(len(y), -1) * self.scale + last


# ---------------------------------------------------------------------------------------------
