"""Automatic model selection (`model: {auto: {...}}`): the task's catalogue, tried on Ray.

The plan is spelled out up front and handed to the tuning machinery (`search.run_tuning`) as a
grid over one choice whose values are the planned configurations, so it runs distributed, within
the time budget, and resumes on a new attempt exactly like tuning. Each configuration names its
model under `train.MODEL_KEY`:

1. every candidate once with the catalogue's defaults (a fair first look at each);
2. the trials left, spread over the candidates in turn, each a random draw (seeded) from the
   model's typical search ranges (`Hyperparameter.search` in the API's catalogue).

The best trial by the objective on the validation rows wins; `ranking` lists every candidate
with its best trial, for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kubetrain_trainer.errors import InvalidSpecError
from kubetrain_trainer.models.train import MODEL_KEY
from kubetrain_trainer.tuning.results import TuningResult
from kubetrain_trainer.tuning.space import SearchDomain, TuneSpec


@dataclass(frozen=True)
class AutoSpec:
    """`spec.model.auto` in the trainer's terms, with the candidates resolved."""

    models: tuple[str, ...]
    max_trials: int = 20
    parallel_trials: int = 1
    time_budget_seconds: float | None = None
    seed: int = 42


def candidates(task: str, given: list[str], class_weights: str = "none") -> tuple[str, ...]:
    """The listed models, or every model of the catalogue serving `task` that automatic
    selection tries by default (not networks, not the per-window statistical forecasters);
    with balanced class weights only those that train with row weights."""
    from kubetrain.api.catalogue import MODELS

    if given:
        names = list(given)
    else:
        names = [str(n) for n, m in MODELS.items() if task in m.tasks and m.auto_default]
    if class_weights == "balanced":
        names = [n for n in names if MODELS[n].sample_weights]  # type: ignore[index]
    if not names:
        raise InvalidSpecError(f"model.auto: no candidate model serves {task}.")
    return tuple(names)


def _draw(name: str, rng: np.random.RandomState) -> dict[str, Any]:
    """One random point of a model's typical search ranges."""
    from kubetrain.api.catalogue import MODELS

    point: dict[str, Any] = {}
    for key, h in MODELS[name].hyperparameters.items():  # type: ignore[index]
        if h.search is None:
            continue
        low, high = h.search
        if h.log:
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = rng.uniform(low, high)
        point[key] = round(value) if h.type == "int" else float(value)
    return point


def plan(spec: AutoSpec) -> list[dict[str, Any]]:
    """Every trial's configuration, in order: defaults first, then draws in turn."""
    rng = np.random.RandomState(spec.seed)
    configs: list[dict[str, Any]] = [{MODEL_KEY: name} for name in spec.models]
    for i in range(max(0, spec.max_trials - len(spec.models))):
        name = spec.models[i % len(spec.models)]
        configs.append({MODEL_KEY: name, **_draw(name, rng)})
    return configs


def tune_spec(spec: AutoSpec) -> TuneSpec:
    """The tuning run that carries out the plan: a grid over one choice whose values are the
    planned configurations, in order (so resuming skips the finished ones); the best trial's
    model is kept."""
    configs = plan(spec)
    return TuneSpec(
        search_space={MODEL_KEY: SearchDomain(type="choice", values=configs)},
        algorithm="grid",
        max_trials=len(configs),
        parallel_trials=min(spec.parallel_trials, len(configs)),
        max_failed_trials=len(configs) - 1,  # a candidate that fails is ranked, not fatal
        time_budget_seconds=spec.time_budget_seconds,
        seed=spec.seed,
        final_model="best-trial",
    )


def ranking(result: TuningResult, models: tuple[str, ...], mode: str) -> list[dict[str, Any]]:
    """Each candidate's best trial, best first; candidates without a result come last."""
    best: dict[str, dict[str, Any]] = {}
    tried: dict[str, int] = dict.fromkeys(models, 0)
    for trial in result.trials:
        params = dict((trial.get("params") or {}).get(MODEL_KEY) or {})
        name = str(params.pop(MODEL_KEY, ""))
        if name not in tried:
            continue
        tried[name] += 1
        value = trial.get("objective")
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        known = best.get(name)
        if known is None or (value > known["objective"] if mode == "max" else
                             value < known["objective"]):  # fmt: skip
            best[name] = {"objective": value, "hyperparameters": params}
    rows = [
        {"model": name, "trials": tried[name], **best.get(name, {"objective": None})}
        for name in models
    ]
    sign = -1 if mode == "max" else 1
    return sorted(rows, key=lambda r: (r["objective"] is None, sign * (r["objective"] or 0)))
