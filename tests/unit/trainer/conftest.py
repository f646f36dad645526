"""Helpers for the trainer's unit tests: small manifests, runs into a temporary directory."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def manifest(spec: dict[str, Any], name: str = "t") -> dict[str, Any]:
    return {
        "apiVersion": "kubetrain.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": copy.deepcopy(spec),
    }


IRIS_FOREST = {
    "problem": {
        "task": "classification",
        "target": "target",
        "objective": {"metric": "accuracy", "threshold": 0.85},
    },
    "data": {"dataset": "iris"},
    "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": 7, "stratify": True}},
    "model": {"builtin": {"name": "random-forest", "hyperparameters": {"n_estimators": 30}}},
}

IRIS_MLP = {
    "problem": {
        "task": "classification",
        "target": "target",
        "objective": {"metric": "accuracy", "threshold": 0.85},
    },
    "data": {"dataset": "iris"},
    "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": 7, "stratify": True}},
    "model": {
        "builtin": {"name": "mlp", "hyperparameters": {"hidden_units": [16]}},
        "training": {"epochs": 12, "batchSize": 16, "learningRate": 0.01},
    },
}


def config_of(spec: dict[str, Any]) -> Any:
    from kubetrain_trainer.config import from_spec, parse_spec

    return from_spec(parse_spec(manifest(spec)))


def run_spec(
    spec: dict[str, Any], output: Path, *, attempt: str = "1", job: str = "t", stop: Any = None
) -> Any:
    from kubetrain_trainer.storage import LocalStorage
    from kubetrain_trainer.workflow import RunContext, run

    context = RunContext(
        job=job,
        namespace="ns",
        attempt=attempt,
        output=LocalStorage(output),
        echo_progress=False,
        progress_interval=0.0,
        stop=stop,
    )
    return run(config_of(spec), context)


def _tests_travel_by_value() -> None:
    """Ray's processes cannot import these test modules (pytest imports them by path), so what
    they define and Ray ships — a test's StopSignal, say — is pickled by value."""
    import sys

    from ray import cloudpickle

    here = str(Path(__file__).parent)
    for module in list(sys.modules.values()):
        if str(getattr(module, "__file__", "") or "").startswith(here):
            cloudpickle.register_pickle_by_value(module)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One small local Ray for every test that needs it (startup costs ~20 s here)."""
    import os

    import ray

    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    _tests_travel_by_value()
    yield
    ray.shutdown()
