"""Statistical forecasters (statsmodels' ETS, ARIMA and Theta) behind the scikit-learn API.

The window preprocessor hands every model the same input: each row is one lookback window,
expressed relative to its last value and divided by the training spread, and the target is the
next `horizon` values on the same scale. A statistical model has nothing to learn across rows:
`fit` only records the horizon, and `predict` fits the model on each window and forecasts
`horizon` steps from it. That is the classic per-series forecaster applied at every forecast
origin, scored on exactly the windows the other models are scored on. Additive models only: the
windows are relative, so a multiplicative form would be meaningless.
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class _WindowForecaster(RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped
    horizon_: int

    def fit(self, x: np.ndarray, y: np.ndarray, **_: Any) -> _WindowForecaster:
        y = np.asarray(y)
        self.horizon_ = 1 if y.ndim == 1 else int(y.shape[1])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        rows = [self._forecast(np.asarray(w, dtype=np.float64)) for w in np.asarray(x)]
        out = np.asarray(rows, dtype=np.float64)
        return out.ravel() if self.horizon_ == 1 else out

    def _forecast(self, window: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on short windows
            try:
                return np.asarray(self._fit_forecast(window), dtype=np.float64)[: self.horizon_]
            except (ValueError, np.linalg.LinAlgError):
                return np.repeat(window[-1], self.horizon_)  # the naive forecast


class ETSForecaster(_WindowForecaster):
    """Exponential smoothing (Holt-Winters, additive): level, optional trend and season."""

    def __init__(
        self, trend: str = "add", damped_trend: bool = True, seasonal_periods: int = 0
    ) -> None:
        self.trend = trend
        self.damped_trend = damped_trend
        self.seasonal_periods = seasonal_periods

    def _fit_forecast(self, window: np.ndarray) -> np.ndarray:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        trend = None if self.trend == "none" else "add"
        seasonal = (
            "add" if self.seasonal_periods and len(window) >= 2 * self.seasonal_periods else None
        )
        model = ExponentialSmoothing(
            window,
            trend=trend,
            damped_trend=bool(self.damped_trend and trend),
            seasonal=seasonal,
            seasonal_periods=self.seasonal_periods if seasonal else None,
        ).fit()
        return cast(np.ndarray, model.forecast(self.horizon_))


class ARIMAForecaster(_WindowForecaster):
    """ARIMA(p, d, q) fitted on each window."""

    def __init__(self, p: int = 2, d: int = 1, q: int = 1) -> None:
        self.p, self.d, self.q = p, d, q

    def _fit_forecast(self, window: np.ndarray) -> np.ndarray:
        from statsmodels.tsa.arima.model import ARIMA

        fitted = ARIMA(window, order=(self.p, self.d, self.q)).fit()
        return cast(np.ndarray, fitted.forecast(self.horizon_))


class ThetaForecaster(_WindowForecaster):
    """The Theta method (Assimakopoulos & Nikolopoulos), optionally deseasonalised."""

    def __init__(self, period: int = 0) -> None:
        self.period = period

    def _fit_forecast(self, window: np.ndarray) -> np.ndarray:
        from statsmodels.tsa.forecasting.theta import ThetaModel

        seasonal = bool(self.period) and len(window) >= 2 * self.period
        # Theta's multiplicative deseasonalising needs positive values: shift the window.
        shift = 1.0 - float(window.min())
        model = ThetaModel(
            window + shift, period=self.period if seasonal else None, deseasonalize=seasonal
        ).fit()
        return np.asarray(model.forecast(self.horizon_)) - shift
