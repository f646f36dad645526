"""The search: the spec's `tuning` section, Tune's domains of it, and the planned configurations.

- grid: every combination of the (discrete) domains; random: `maxTrials` samples (both spelled
  out up front by `planned_configs`, seeded); bayesian: Optuna's TPE, no plan.

Choice values that are not scalars (`hidden_units: [[32], [64, 32]]`) travel through Tune as
JSON strings, because Optuna's categorical distributions only hold scalars; `decode_params`
turns them back.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from kubetrain_trainer.errors import InvalidSpecError

_JSON = "json:"


@dataclass(frozen=True)
class SearchDomain:
    type: str  # choice | uniform | loguniform | int
    values: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class TuneSpec:
    search_space: dict[str, SearchDomain]
    algorithm: str = "random"  # grid | random | bayesian
    max_trials: int = 10
    parallel_trials: int = 1
    max_failed_trials: int = 0
    scheduler: str = "none"  # asha | median | none
    grace_period: int = 1
    time_budget_seconds: float | None = None
    seed: int = 42
    final_model: str = "best-trial"  # best-trial | retrain


def _encode(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else _JSON + json.dumps(value)


def decode_params(config: dict[str, Any]) -> dict[str, Any]:
    return {
        k: json.loads(v[len(_JSON) :]) if isinstance(v, str) and v.startswith(_JSON) else v
        for k, v in config.items()
    }


def _int_values(d: SearchDomain) -> list[int]:
    assert d.low is not None and d.high is not None
    return list(range(int(d.low), int(d.high) + 1, int(d.step or 1)))


def _grid_values(name: str, d: SearchDomain) -> list[Any]:
    if d.type == "choice":
        return [_encode(v) for v in d.values or []]
    if d.type == "int":
        return list(_int_values(d))
    raise InvalidSpecError(f"grid search needs discrete domains; {name} is {d.type}.")


def param_space(spec: TuneSpec) -> dict[str, Any]:
    """Tune domains of the search space (a grid's discrete domains become choices: the grid
    itself is spelled out by `planned_configs`)."""
    from ray import tune

    space: dict[str, Any] = {}
    for name, d in spec.search_space.items():
        if spec.algorithm == "grid":
            space[name] = tune.choice(_grid_values(name, d))
        elif d.type == "choice":
            space[name] = tune.choice([_encode(v) for v in d.values or []])
        elif d.type == "int":
            assert d.low is not None and d.high is not None
            space[name] = tune.qrandint(int(d.low), int(d.high), int(d.step or 1))
        elif d.type == "uniform":
            assert d.low is not None and d.high is not None
            space[name] = (
                tune.quniform(d.low, d.high, d.step) if d.step else tune.uniform(d.low, d.high)
            )
        elif d.type == "loguniform":
            assert d.low is not None and d.high is not None
            space[name] = tune.loguniform(d.low, d.high)
        else:
            raise InvalidSpecError(f"unknown search domain type {d.type!r} for {name}.")
    return space


def planned_configs(spec: TuneSpec) -> list[dict[str, Any]] | None:
    """grid and random: every configuration of the search, in order (as Tune sees them).

    Spelled out here rather than left to Tune's generator so that a new attempt knows which
    configurations earlier attempts finished: the list depends only on the spec and its seed.
    Bayesian search has no plan (each point depends on the results so far): None.
    """
    if spec.algorithm == "grid":
        names = list(spec.search_space)
        values = [_grid_values(name, spec.search_space[name]) for name in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    if spec.algorithm == "random":
        rng = np.random.RandomState(spec.seed)
        space = param_space(spec)
        return [
            {name: _native(domain.sample(random_state=rng)) for name, domain in space.items()}
            for _ in range(spec.max_trials)
        ]
    return None


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)
