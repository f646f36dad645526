"""Preparation of a time series (forecasting): one series in time order, cut into windows.

The series is the training file, then the validation and test files if given (else the last
stretches of the training file); missing targets are filled with statistics of the training
part; splits are chronological (test = the most recent stretch); windows use earlier values as
inputs, which is what a forecaster sees in production, but their targets lie inside their own
split. The season is given (`problem.season`) or detected on the training part.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from kubetrain_trainer.data.columns import feature_columns
from kubetrain_trainer.data.load import LoadedData, check_target
from kubetrain_trainer.errors import DataError
from kubetrain_trainer.preparation.preprocessors import WindowPreprocessor, as_number
from kubetrain_trainer.preparation.spec import Fold, PreparedData, PrepSpec, Series

MIN_PEAK = 0.2  # the autocorrelation a detected season must reach


def detect_season(values: np.ndarray) -> int | None:
    """The lag (2 .. a third of the series) of the highest autocorrelation peak of the
    differenced series, when it reaches MIN_PEAK; None when the series shows no season."""
    diffs = np.diff(np.asarray(values, dtype=np.float64))
    max_lag = min(len(diffs) // 3, 400)
    if max_lag < 3 or not np.std(diffs) > 0:
        return None
    centred = diffs - diffs.mean()
    denom = float(np.dot(centred, centred))
    acf = np.array([np.dot(centred[:-lag], centred[lag:]) / denom for lag in range(1, max_lag)])
    lags = np.arange(1, max_lag)
    peaks = [
        i for i in range(1, len(acf) - 1) if acf[i] >= acf[i - 1] and acf[i] >= acf[i + 1]
    ]  # local maxima, lag >= 2
    if not peaks:
        return None
    best = max(peaks, key=lambda i: acf[i])
    return int(lags[best]) if acf[best] >= MIN_PEAK else None


def _series_frame(
    frame: pd.DataFrame,
    spec: PrepSpec,
    where: str,
    dropped: dict[str, int],
    quality: dict[str, Any],
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


def _fill_series(
    values: np.ndarray, train_end: int, spec: PrepSpec, dropped: dict[str, int]
) -> np.ndarray:
    """Missing target values filled as the strategy says, statistics from the training part."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    dropped["interpolated_target" if spec.missing == "interpolate" else "filled_target"] = int(
        missing.sum()
    )
    if spec.missing == "interpolate":
        return cast(np.ndarray, pd.Series(values).interpolate(limit_direction="both").to_numpy())
    train = pd.Series(values[:train_end]).dropna()
    fill = {
        "mean": train.mean(),
        "median": train.median(),
        "most-frequent": train.mode().iloc[0] if not train.empty else np.nan,
        "constant": as_number(spec.fill_value),
    }[str(spec.missing)]
    return np.where(missing, float(fill), values)


def _series(values: np.ndarray, train_end: int, val_end: int, spec: PrepSpec) -> Series:
    season, source = spec.season, "given"
    if season is None:
        season = detect_season(values[:train_end])
        source = "detected" if season else "none"
    return Series(values, train_end, val_end, spec.lookback, spec.horizon, season, source)


def prepare_series(data: LoadedData, spec: PrepSpec) -> PreparedData:
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
