"""How data is prepared before training: cleaning, scaling, encoding and the split."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from kubetrain.api.base import ApiModel, Bool, Column, Rule, Seed, defaulted
from kubetrain.api.enums import ClassWeights, ColumnType, Encoding, MissingStrategy, Scaling


class MissingValues(ApiModel):
    """How rows with missing values are handled."""

    strategy: MissingStrategy | None = None
    """Drop the rows, or impute (mean, median and most-frequent per column, a constant, or
    interpolation along time for forecasting). Unset: median for tables (non-numeric columns
    take a `__missing__` category unless the strategy is constant), interpolation for series."""
    fill_value: Annotated[str, StringConstraints(strict=True, max_length=256)] | None = None
    """The constant, for strategy constant; converted to each column's type."""

    rules = (
        Rule(
            cel="(has(self.strategy) && self.strategy == 'constant') == has(self.fillValue)",
            message="is required for strategy constant, and only for it",
            holds=lambda m: (m.strategy == MissingStrategy.CONSTANT) == (m.fill_value is not None),
            field=".fillValue",
        ),
    )

    def resolved_strategy(self, forecasting: bool) -> MissingStrategy:
        """The strategy in effect: the given one, or the task's default."""
        if self.strategy is not None:
            return self.strategy
        return MissingStrategy.INTERPOLATE if forecasting else MissingStrategy.MEDIAN


Fraction = Annotated[float, Field(strict=True, ge=0.0, lt=1.0)]


class Split(ApiModel):
    """A random train/validation/test split (chronological for forecasting)."""

    validation: Annotated[float, Field(strict=True, gt=0.0, lt=1.0)] = 0.2
    """The fraction of rows for validation: model selection, early stopping, tuning."""
    test: Fraction = 0.2
    """The fraction of rows held out for the final test; 0 for none."""
    seed: Seed = 42
    """The seed of the shuffle."""
    stratify: Bool = False
    """Keep the class proportions in every part (classification tasks only)."""

    rules = (
        Rule(
            cel="self.validation + self.test <= 0.9",
            message="validation + test must be at most 0.9, leaving at least 10% to train on",
            holds=lambda s: s.validation + s.test <= 0.9,
            field=".test",
        ),
    )


class CrossValidation(ApiModel):
    """k-fold cross-validation (time-series folds for forecasting) instead of one split."""

    folds: Annotated[int, Field(strict=True, ge=2, le=20)] = 5
    """The number of folds."""
    seed: Seed = 42
    """The seed of the fold assignment."""
    stratify: Bool = False
    """Keep the class proportions in every fold (classification tasks only)."""


Columns = Annotated[list[Column], Field(max_length=1000)]


class DatetimeFeatures(ApiModel):
    """What a datetime column becomes: calendar parts, and their cyclic encodings."""

    parts: Bool = True
    """Year, month, day, day of week, hour (those that vary in the training rows)."""
    cyclic: Bool = True
    """Sine and cosine of month, day of week and hour, so December sits next to January."""


class Features(ApiModel):
    """Which columns are features and how each is read."""

    include: Columns = defaulted(list)
    """Only these columns are features (all but the target when empty)."""
    exclude: Columns = defaulted(list)
    """These columns are never features (identifiers, leaks); exclude wins over include."""
    types: Annotated[dict[str, ColumnType], Field(max_length=1000)] = defaulted(dict)
    """Column type overrides: a numeric code read as categorical, a date string as datetime."""
    datetime: DatetimeFeatures = defaulted(DatetimeFeatures)
    """How datetime columns (by type override or by dtype) become features."""


class Preparation(ApiModel):
    """Data preparation. Without split or crossValidation the default split applies."""

    drop_duplicates: Bool = False
    """Remove duplicate rows. Off by default: duplicates are counted and reported as a
    data-quality finding, because many tables hold legitimately identical rows."""
    features: Features = defaulted(Features)
    """Feature selection and column types."""
    class_weights: ClassWeights = ClassWeights.NONE
    """Weight classes inversely to their frequency (classification, imbalanced data)."""
    missing: MissingValues = defaulted(MissingValues)
    """Missing values."""
    scaling: Scaling = Scaling.STANDARD
    """Scaling of numeric features (tabular tasks)."""
    encoding: Encoding = Encoding.ONE_HOT
    """Encoding of categorical features (tabular tasks)."""
    split: Split | None = None
    """A train/validation/test split."""
    cross_validation: CrossValidation | None = None
    """k-fold cross-validation."""

    rules = (
        Rule(
            cel="!has(self.split) || !has(self.crossValidation)",
            message="set at most one of split or crossValidation",
            holds=lambda p: p.split is None or p.cross_validation is None,
            field=".crossValidation",
        ),
    )

    @property
    def stratify(self) -> bool:
        """Whether the split or the folds keep class proportions."""
        return bool(
            (self.split and self.split.stratify)
            or (self.cross_validation and self.cross_validation.stratify)
        )

    @property
    def resolved_split(self) -> Split | None:
        """The split in effect: the given one, or the default unless cross-validating."""
        if self.cross_validation is not None:
            return None
        return self.split or Split()
