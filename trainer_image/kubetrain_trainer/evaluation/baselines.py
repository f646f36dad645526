"""The forecasts every forecasting model is judged against: naive and seasonal naive.

For each forecast origin `t` of a held-out split (the same windows the model is scored on),
the naive forecast repeats the last observed value `y[t-1]` for every step ahead, and the
seasonal-naive forecast repeats the value one season earlier: step `k` (0-based) is
`y[t + k - m * (k // m + 1)]`. MASE divides a forecast's MAE by the in-sample MAE of the
one-season-back forecast on the training series (lag 1 without a season), so MASE < 1 beats
that in-sample baseline; skill vs seasonal naive is `1 - MAE_model / MAE_seasonal_naive` on the
same windows (above 0: better than the baseline). The season is given (`problem.season`) or
detected as the strongest autocorrelation peak of the differenced training series.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from kubetrain_trainer.preparation.spec import Series


def naive(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Each origin's last observed value, for every step ahead: (origins, horizon)."""
    return np.repeat(values[origins - 1][:, None], horizon, axis=1)


def seasonal_naive(
    values: np.ndarray, origins: np.ndarray, horizon: int, season: int | None
) -> np.ndarray | None:
    """The value one season before each step ahead; None where the history is too short."""
    if season is None:
        return naive(values, origins, horizon)
    steps = np.arange(horizon)
    index = origins[:, None] + steps[None, :] - season * (steps[None, :] // season + 1)
    if index.size and index.min() < 0:
        return None
    return cast(np.ndarray, values[index])


def _errors(truth: np.ndarray, guess: np.ndarray, scale: float) -> dict[str, float | None]:
    err = np.asarray(guess, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    mae = float(np.mean(np.abs(err)))
    return {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mase": mae / scale if np.isfinite(scale) else None,
    }


def compare(
    series: Series, split: str, start: int, stop: int, truth: np.ndarray, guess: np.ndarray
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The model against both baselines on the windows of values[start:stop]: the report's
    numbers, and the baseline forecasts (for the plot)."""
    origins = series.origins(start, stop)
    truth = np.asarray(truth, dtype=np.float64).reshape(len(origins), -1)
    guess = np.asarray(guess, dtype=np.float64).reshape(len(origins), -1)
    scale = series.scale
    forecasts = {"naive": naive(series.values, origins, series.horizon)}
    seasonal = seasonal_naive(series.values, origins, series.horizon, series.season)
    if seasonal is not None:
        forecasts["seasonal naive"] = seasonal
    out: dict[str, Any] = {
        "split": split,
        "windows": len(origins),
        "season": series.season,
        "seasonSource": series.season_source,
        "model": _errors(truth, guess, scale),
        "naive": _errors(truth, forecasts["naive"], scale),
        "seasonalNaive": _errors(truth, seasonal, scale) if seasonal is not None else None,
    }
    model_mae = out["model"]["mae"]
    for key, name in (("naive", "skillVsNaive"), ("seasonalNaive", "skillVsSeasonalNaive")):
        base = out[key]["mae"] if out[key] else None
        out[name] = 1 - model_mae / base if base else None
    return out, forecasts


def baseline_warnings(report: dict[str, Any]) -> list[str]:
    """A warning when the model does not beat the seasonal-naive (or naive) forecast."""
    key = "seasonalNaive" if report.get("seasonalNaive") else "naive"
    base = report[key]["mae"]
    model = report["model"]["mae"]
    if model < base:
        return []
    name = "seasonal-naive" if key == "seasonalNaive" else "naive"
    return [
        f"the model's {report['split']} MAE ({model:.4g}) does not beat the {name} forecast's "
        f"({base:.4g}) on the same windows; a forecaster should at least beat it."
    ]
