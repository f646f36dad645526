"""The preparation stage's entry point: rows or a time series, as the task says.

`resolve_text_column` settles text-classification's column from the loaded data first.
"""

from __future__ import annotations

import dataclasses

from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.data.load import LoadedData, check_target
from kubetrain_trainer.errors import DataError
from kubetrain_trainer.preparation.series import prepare_series
from kubetrain_trainer.preparation.spec import PreparedData, PrepSpec
from kubetrain_trainer.preparation.tabular import prepare_rows


def prepare(data: LoadedData, spec: PrepSpec) -> PreparedData:
    """Split and transform; every fitted transformation sees training rows only."""
    check_target(data.train, spec.target, spec.task, "the training data")
    if spec.task == "forecasting":
        return prepare_series(data, spec)
    return prepare_rows(data, spec)


def resolve_text_column(config: JobConfig, data: LoadedData) -> JobConfig:
    """text-classification: the dataset's text column, `text`, or the only string column."""
    text = config.preparation.text
    if text is None or text.column:
        return config
    frame = data.train
    if data.info is not None and data.info.text_column:
        column = data.info.text_column
    elif "text" in frame.columns:
        column = "text"
    else:
        strings = [
            c for c in frame.columns if c != config.preparation.target and frame[c].dtype == object
        ]
        if len(strings) != 1:
            raise DataError(
                "text-classification needs one text column: name it `text`, or keep exactly one "
                f"string column besides the target (found {strings or 'none'})."
            )
        column = strings[0]
    prep = dataclasses.replace(config.preparation, text=dataclasses.replace(text, column=column))
    return dataclasses.replace(config, preparation=prep)
