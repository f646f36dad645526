"""What this attempt runs: the search's configurations less those earlier attempts finished.

With a `TrialLog`, each finished trial is in the job's storage. A new attempt runs only the
planned configurations without a record (grid, random), or seeds Optuna's study with the
recorded results and runs the rest of `maxTrials` (bayesian).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubetrain_trainer.tuning.space import TuneSpec, config_key, planned_configs
from kubetrain_trainer.tuning.trial_log import TrialLog


@dataclass
class Pending:
    """What this attempt runs, after the trials earlier attempts finished (`past`)."""

    points: list[dict[str, Any]]  # grid/random: the configurations left, in plan order
    plan_keys: dict[str, list[str]]  # grid/random: config → keys of its unfinished plan entries
    past: list[dict[str, Any]]
    num_samples: int
    planned: int  # trials in the whole search


def pending(spec: TuneSpec, log: TrialLog | None) -> Pending:
    """The configurations left to run, and the finished trials kept from earlier attempts."""
    past = log.finished() if log is not None else []
    plan = planned_configs(spec)
    if plan is None:  # bayesian: earlier results seed the sampler, the rest of maxTrials runs
        kept = [t for t in past if t.get("objective") is not None]
        left = max(0, spec.max_trials - len(kept))
        return Pending([], {}, kept, left, spec.max_trials)
    done = {t.get("key"): t for t in past}
    points: list[dict[str, Any]] = []
    plan_keys: dict[str, list[str]] = {}
    kept = []
    for index, config in enumerate(plan):
        key = f"plan-{index:05d}"
        record = done.get(key)
        if record is not None and config_key(record.get("config", {})) == config_key(config):
            kept.append(record)
            continue
        points.append(config)
        plan_keys.setdefault(config_key(config), []).append(key)
    return Pending(points, plan_keys, kept, len(points), len(plan))
