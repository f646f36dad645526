"""The preparation stage's entry point: rows or a time series, as the task says."""

from __future__ import annotations

from kubetrain_trainer.data.load import LoadedData, check_target
from kubetrain_trainer.preparation.series import prepare_series
from kubetrain_trainer.preparation.spec import PreparedData, PrepSpec
from kubetrain_trainer.preparation.tabular import prepare_rows


def prepare(data: LoadedData, spec: PrepSpec) -> PreparedData:
    """Split and transform; every fitted transformation sees training rows only."""
    check_target(data.train, spec.target, spec.task, "the training data")
    if spec.task == "forecasting":
        return prepare_series(data, spec)
    return prepare_rows(data, spec)
