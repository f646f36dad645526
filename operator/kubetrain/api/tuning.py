"""Hyperparameter tuning: a search space, a search algorithm, trial limits and a scheduler.

Search-space keys are hyperparameter names of the built-in model, or (for PyTorch networks)
training fields such as learningRate and batchSize; the operator checks them against the
catalogue. Each trial trains one model; the best by the problem's objective wins.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from kubetrain.api.base import AnyValue, ApiModel, Count, Rule, Seconds, Seed
from kubetrain.api.enums import DomainType, FinalModel, Scheduler, SearchAlgorithm

Bound = Annotated[float, Field(strict=True, ge=-1e15, le=1e15)]


def _whole(value: float | None) -> bool:
    return value is None or float(value).is_integer()


class SearchDomain(ApiModel):
    """The values one hyperparameter is searched over.

    choice: one of `values`. uniform: a number in [low, high], in multiples of `step` if set.
    loguniform: a number in [low, high] on a log scale (low > 0). int: a whole number in
    [low, high], in multiples of `step` if set.
    """

    type: DomainType
    """The kind of domain."""
    values: Annotated[list[AnyValue], Field(min_length=1, max_length=64)] | None = None
    """The candidate values: required for type choice, and only for it."""
    low: Bound | None = None
    """uniform, loguniform, int: the lower bound."""
    high: Bound | None = None
    """uniform, loguniform, int: the upper bound."""
    step: Annotated[float, Field(strict=True, gt=0.0, le=1e15)] | None = None
    """uniform, int: the quantisation step."""

    rules = (
        # CEL cannot see `values` (its items are untyped), so these two are value validations.
        # They lean on the CEL rules below: choice has no low, every range has one.
        Rule(
            schema={"anyOf": [{"required": ["values"]}, {"required": ["low"]}]},
            message="values are required for type choice",
            holds=lambda d: d.type != DomainType.CHOICE or d.values is not None,
            field=".values",
        ),
        Rule(
            schema={"not": {"required": ["values", "low"]}},
            message="values apply to type choice only",
            holds=lambda d: d.type == DomainType.CHOICE or d.values is None,
            field=".values",
        ),
        Rule(
            cel="self.type == 'choice' || (has(self.low) && has(self.high))",
            message="low and high are required for uniform, loguniform and int",
            holds=lambda d: d.type == DomainType.CHOICE or None not in (d.low, d.high),
            field=".low",
        ),
        Rule(
            cel="self.type != 'choice' || (!has(self.low) && !has(self.high))",
            message="low and high apply to ranges, not to type choice",
            holds=lambda d: d.type != DomainType.CHOICE or d.low is d.high is None,
            field=".low",
        ),
        Rule(
            cel="!has(self.low) || !has(self.high) || self.low < self.high",
            message="must be less than high",
            holds=lambda d: None in (d.low, d.high) or d.low < d.high,
            field=".low",
        ),
        Rule(
            cel="self.type != 'loguniform' || !has(self.low) || self.low > 0.0",
            message="must be greater than 0 for loguniform",
            holds=lambda d: d.type != DomainType.LOGUNIFORM or d.low is None or d.low > 0,
            field=".low",
        ),
        Rule(
            cel="!has(self.step) || self.type == 'uniform' || self.type == 'int'",
            message="applies to types uniform and int only",
            holds=lambda d: d.step is None or d.type in (DomainType.UNIFORM, DomainType.INT),
            field=".step",
        ),
        Rule(
            cel="self.type != 'int' || [self.?low, self.?high, self.?step].all(v, "
            "!v.hasValue() || v.value() == double(int(v.value())))",
            message="low, high and step must be whole numbers for type int",
            holds=lambda d: d.type != DomainType.INT or all(map(_whole, (d.low, d.high, d.step))),
            field=".low",
        ),
    )

    @property
    def is_discrete(self) -> bool:
        """Whether the domain is a finite set of values (choice or int)."""
        return self.type in (DomainType.CHOICE, DomainType.INT)

    @property
    def size(self) -> int | None:
        """How many values a discrete domain holds; None for continuous ones."""
        if self.type == DomainType.CHOICE and self.values is not None:
            return len(self.values)
        if self.type == DomainType.INT and self.low is not None and self.high is not None:
            return math.floor((self.high - self.low) / (self.step or 1)) + 1
        return None


class Tuning(ApiModel):
    """Hyperparameter search: trials run in parallel on the Ray cluster."""

    algorithm: SearchAlgorithm = SearchAlgorithm.RANDOM
    """grid tries every combination of discrete domains; random samples; bayesian (TPE)
    learns from earlier trials."""
    search_space: Annotated[dict[str, SearchDomain], Field(min_length=1, max_length=32)]
    """The domain of each tuned hyperparameter, by name."""
    max_trials: Annotated[int, Field(strict=True, ge=1, le=1000)] = 10
    """The most trials to run. A grid must fit within it."""
    parallel_trials: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    """Trials run at the same time; at most maxTrials."""
    max_failed_trials: Annotated[int, Field(strict=True, ge=0, le=1000)] = 0
    """Failed trials tolerated before the search fails."""
    scheduler: Scheduler = Scheduler.NONE
    """An early-stopping scheduler that ends unpromising trials (PyTorch networks)."""
    grace_period: Count = 1
    """Epochs every trial runs before the scheduler may stop it."""
    time_budget_seconds: Seconds | None = None
    """Stop starting trials after this long; the best so far wins."""
    seed: Seed | None = None
    """The seed of the search algorithm."""
    final_model: FinalModel = FinalModel.BEST_TRIAL
    """Keep the best trial's model, or retrain one with its hyperparameters on train and
    validation data together."""

    rules = (
        Rule(
            cel="self.parallelTrials <= self.maxTrials",
            message="must not exceed maxTrials",
            holds=lambda t: t.parallel_trials <= t.max_trials,
            field=".parallelTrials",
        ),
        Rule(
            cel="self.algorithm != 'grid' || "
            "self.searchSpace.all(k, self.searchSpace[k].type in ['choice', 'int'])",
            message="grid search needs discrete domains (choice or int), not uniform or loguniform",
            holds=lambda t: (
                t.algorithm != SearchAlgorithm.GRID
                or all(d.is_discrete for d in t.search_space.values())
            ),
            field=".searchSpace",
        ),
    )

    @property
    def grid_size(self) -> int | None:
        """How many combinations a grid search tries; None unless every domain is discrete."""
        size = 1
        for domain in self.search_space.values():
            if domain.size is None:
                return None
            size *= domain.size
        return size
