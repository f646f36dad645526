"""Columns: which ones are features, how each is read, and what a datetime becomes.

`ColumnSpec` is `spec.preparation.features`: an include list, an exclude list (which wins),
type overrides (numeric, categorical, text, datetime) and the datetime settings. The functions
here are pure and work on pandas frames; `TabularPreprocessor` applies them the same way to the
training rows and, later, to the rows to predict. `id_like_columns` finds the columns that look
like identifiers, which the report flags (they are not dropped: that is the user's call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kubetrain_trainer.errors import DataError

COLUMN_TYPES = ("numeric", "categorical", "text", "datetime")
# Calendar parts and, for the periodic ones, their period (for the sine/cosine encodings).
_PARTS: dict[str, float | None] = {
    "year": None,
    "month": 12.0,
    "day": 31.0,
    "day_of_week": 7.0,
    "hour": 24.0,
    "minute": 60.0,
}
_ID_NAMES = ("id", "uuid", "guid", "key", "index")


@dataclass(frozen=True)
class ColumnSpec:
    """`spec.preparation.features` in the trainer's terms."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    types: dict[str, str] = field(default_factory=dict)
    datetime_parts: bool = True
    datetime_cyclic: bool = True


def feature_columns(frame: pd.DataFrame, target: str, spec: ColumnSpec) -> list[str]:
    """The feature columns, in the data's order: included ones (or all), less excluded ones."""
    named = {
        "preparation.features.include": spec.include,
        "preparation.features.exclude": spec.exclude,
        "preparation.features.types": tuple(spec.types),
    }
    for where, columns in named.items():
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise DataError(
                f"{where} names columns that are not in the data: {', '.join(absent)}; "
                f"its columns are: {', '.join(map(str, list(frame.columns)[:30]))}."
            )
    if target in spec.include:
        raise DataError(f"preparation.features.include names the target column {target!r}.")
    wanted = set(spec.include) if spec.include else set(frame.columns)
    return [c for c in frame.columns if c in wanted and c != target and c not in spec.exclude]


def apply_types(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Read each overridden column as its declared type; unreadable values become missing."""
    out = frame.copy()
    for column, kind in types.items():
        if column not in out.columns:
            continue
        if kind == "numeric":
            out[column] = pd.to_numeric(out[column], errors="coerce")
        elif kind in ("categorical", "text"):
            values = out[column]
            out[column] = values.where(values.isna(), values.astype(str)).astype(object)
        elif kind == "datetime":
            out[column] = _to_datetime(out[column])
    return out


def _to_datetime(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    return pd.to_datetime(values, errors="coerce", format="mixed")


def datetime_columns(frame: pd.DataFrame, columns: list[str], types: dict[str, str]) -> list[str]:
    """Columns read as datetimes: declared so, or already of a datetime dtype."""
    return [
        c
        for c in columns
        if types.get(c) == "datetime" or pd.api.types.is_datetime64_any_dtype(frame[c])
    ]


class DatetimeEncoder:
    """Datetime columns → calendar parts (those that vary in training) and cyclic encodings."""

    def __init__(self, parts: bool = True, cyclic: bool = True) -> None:
        self.parts, self.cyclic = parts, cyclic
        self.kept: dict[str, list[str]] = {}

    def fit(self, frame: pd.DataFrame, columns: list[str]) -> DatetimeEncoder:
        for column in columns:
            values = _to_datetime(frame[column])
            self.kept[column] = [
                part for part in _PARTS if getattr(values.dt, part).nunique(dropna=True) > 1
            ]
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with each datetime column replaced by numeric columns `<column>_<part>`."""
        out = frame.drop(columns=list(self.kept))
        for column, parts in self.kept.items():
            values = _to_datetime(frame[column])
            for part in parts:
                number = getattr(values.dt, part).astype("float64")
                if self.parts:
                    out[f"{column}_{part}"] = number
                period = _PARTS[part]
                if self.cyclic and period is not None:
                    angle = 2 * np.pi * number / period
                    out[f"{column}_{part}_sin"] = np.sin(angle)
                    out[f"{column}_{part}_cos"] = np.cos(angle)
        return out


def id_like_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Columns that look like row identifiers, in a table of at least 20 rows: a distinct value
    in every row that is a string, a run of consecutive integers (row numbers), or any value
    under a name such as `id` or `customer_id`."""
    if len(frame) < 20:
        return []
    return [c for c in columns if _looks_like_id(str(c), frame[c], len(frame))]


def _looks_like_id(name: str, values: pd.Series, rows: int) -> bool:
    values = values.dropna()
    if not values.nunique() == len(values) == rows:
        return False
    name = name.lower()
    if name in _ID_NAMES or name.endswith(("_id", "-id", " id")):
        return True
    if pd.api.types.is_integer_dtype(values):
        return int(values.max()) - int(values.min()) + 1 == rows
    return bool(pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values))


def unseen_categories(frame: pd.DataFrame, known: dict[str, Any]) -> dict[str, int]:
    """Per categorical column, how many rows hold a value the training rows never had."""
    counts = {}
    for column, categories in known.items():
        if column not in frame.columns:
            continue
        values = frame[column].dropna().astype(str)
        seen = {str(c) for c in categories}
        unseen = int((~values.isin(seen)).sum())
        if unseen:
            counts[column] = unseen
    return counts
