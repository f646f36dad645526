"""The preparation's input and result types: `PrepSpec` in, `PreparedData` out.

`PrepSpec` is the spec's preparation section (from `config`); `PreparedData` holds the numeric
arrays of each split (or the cross-validation folds), the fitted `Preprocessor`, the rows
dropped by reason, the data-quality findings and, for forecasting, the whole `Series`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kubetrain.api.enums import Encoding, MissingStrategy, Scaling
from kubetrain_trainer.data.columns import ColumnSpec

if TYPE_CHECKING:
    from kubetrain_trainer.preparation.preprocessors import Preprocessor

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


@dataclass(frozen=True)
class Series:
    """A forecasting job's whole series (train, then validation, then test) and its layout."""

    values: np.ndarray
    train_end: int
    val_end: int
    lookback: int
    horizon: int
    season: int | None
    season_source: str  # given | detected | none

    def origins(self, start: int, stop: int) -> np.ndarray:
        """The forecast origins of the windows whose targets lie in values[start:stop]."""
        return np.arange(max(start, self.lookback), stop - self.horizon + 1)

    @property
    def scale(self) -> float:
        """The in-sample MAE of the one-season-back (or one-step-back) forecast: MASE's unit."""
        lag = self.season or 1
        train = self.values[: self.train_end]
        diffs = np.abs(train[lag:] - train[:-lag])
        return float(diffs.mean()) if len(diffs) and diffs.mean() > 0 else float("nan")
