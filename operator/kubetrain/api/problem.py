"""The problem a job solves: the task, the column to predict and the objective to optimise."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from kubetrain.api.base import ApiModel, Column, Float, Rule, cel_table
from kubetrain.api.catalogue import METRICS, METRICS_BY_TASK
from kubetrain.api.enums import Direction, Metric, Task

_DIRECTIONS = {str(metric): str(info.direction) for metric, info in METRICS.items()}
_CEL_DIRECTIONS = "{" + ", ".join(f"'{m}': '{d}'" for m, d in _DIRECTIONS.items()) + "}"


class Objective(ApiModel):
    """The metric that decides which model is best, and optionally what counts as success."""

    metric: Metric
    """The metric to optimise, measured on the validation data. It must fit the task."""
    direction: Direction | None = None
    """Whether larger or smaller is better. Defaults to, and must agree with, the metric's own."""
    threshold: Float | None = None
    """Success criterion: the job's verdict is met when the best value reaches this."""

    rules = (
        Rule(
            cel=f"!has(self.direction) || self.direction == {_CEL_DIRECTIONS}[self.metric]",
            message="must agree with the metric: "
            + "; ".join(
                f"{d} for " + ", ".join(m for m in _DIRECTIONS if _DIRECTIONS[m] == d)
                for d in Direction
            ),
            holds=lambda o: o.direction in (None, METRICS[o.metric].direction),
            field=".direction",
        ),
    )

    @property
    def resolved_direction(self) -> Direction:
        """The direction, defaulted from the metric."""
        return self.direction or METRICS[self.metric].direction


def _forecasting_only(field: str, python_name: str) -> Rule:
    return Rule(
        cel=f"self.task == 'forecasting' || !has(self.{field})",
        message="applies to forecasting only",
        holds=lambda p: p.task == Task.FORECASTING or getattr(p, python_name) is None,
        field=f".{field}",
    )


def _forecasting_needs(field: str, python_name: str) -> Rule:
    return Rule(
        cel=f"self.task != 'forecasting' || has(self.{field})",
        message="is required for forecasting",
        holds=lambda p: p.task != Task.FORECASTING or getattr(p, python_name) is not None,
        field=f".{field}",
    )


class Problem(ApiModel):
    """What to learn: the task, the target column and the objective."""

    task: Task
    """The kind of problem."""
    target: Column
    """The column to predict (the label). For a built-in dataset, its target column."""
    time_column: Column | None = None
    """Forecasting: the column that orders the rows in time."""
    horizon: Annotated[int, Field(strict=True, ge=1, le=10_000)] | None = None
    """Forecasting: how many steps ahead to predict."""
    lookback: Annotated[int, Field(strict=True, ge=1, le=10_000)] | None = None
    """Forecasting: how many past steps each prediction sees. Defaults to 4 x horizon."""
    season: Annotated[int, Field(strict=True, ge=2, le=10_000)] | None = None
    """Forecasting: the season length in steps (52 for weekly data with a yearly cycle), for
    the seasonal-naive baseline and MASE. Detected from the training series when unset."""
    objective: Objective
    """The metric to optimise."""

    rules = (
        Rule(
            cel=f"self.objective.metric in {cel_table(METRICS_BY_TASK)}[self.task]",
            message="does not fit the task; metrics per task: "
            + "; ".join(f"{task}: {', '.join(m)}" for task, m in METRICS_BY_TASK.items()),
            holds=lambda p: p.objective.metric in METRICS_BY_TASK[p.task],
            field=".objective.metric",
        ),
        _forecasting_needs("timeColumn", "time_column"),
        _forecasting_needs("horizon", "horizon"),
        _forecasting_only("timeColumn", "time_column"),
        _forecasting_only("horizon", "horizon"),
        _forecasting_only("lookback", "lookback"),
        _forecasting_only("season", "season"),
    )

    @property
    def resolved_lookback(self) -> int | None:
        """The lookback window for forecasting, defaulted from the horizon."""
        if self.task != Task.FORECASTING or self.horizon is None:
            return None
        return self.lookback or 4 * self.horizon
