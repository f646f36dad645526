"""TrainingJob manifests for the tests, built one way: `manifest(spec, name)`.

`training_job` gives an iris classification with a chosen model, compute and run policy;
`custom_job` and `builtin_job` are its two common shapes in the operator tests. `IRIS_FOREST`
and `IRIS_MLP` are small complete specs for the trainer tests. `merge_patch` edits a manifest
the way `kubectl patch --type=merge` does.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from kubetrain.api import API_VERSION, KIND


def manifest(spec: dict[str, Any], name: str = "t") -> dict[str, Any]:
    """A TrainingJob named `name` with (a copy of) `spec`."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name},
        "spec": copy.deepcopy(spec),
    }


def training_job(
    name: str, model: dict[str, Any], compute: dict[str, Any], **run_policy: Any
) -> dict[str, Any]:
    """An iris classification TrainingJob with the given model, compute and run policy."""
    spec: dict[str, Any] = {
        "problem": {
            "task": "classification",
            "target": "target",
            "objective": {"metric": "accuracy"},
        },
        "data": {"dataset": "iris"},
        "model": model,
        "compute": compute,
    }
    if run_policy:
        spec["runPolicy"] = run_policy
    return manifest(spec, name)


def custom_job(name: str, script: str, **run_policy: Any) -> dict[str, Any]:
    """A bring-your-own-code TrainingJob running a Python script on the local node."""
    model = {"custom": {"image": "example/my-trainer:1", "command": ["python", "-c", script]}}
    return training_job(name, model, {"profile": "local"}, **run_policy)


def builtin_job(
    name: str, profile: str, workers: int = 1, gpus: int | None = None
) -> dict[str, Any]:
    """A built-in MLP TrainingJob on `profile` (kwok pools: it is placed, never run)."""
    compute: dict[str, Any] = {"profile": profile, "workers": workers}
    if gpus is not None:
        compute["gpusPerWorker"] = gpus
    return training_job(name, {"builtin": {"name": "mlp"}, "training": {"epochs": 2}}, compute)


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_IRIS_PROBLEM = {
    "task": "classification",
    "target": "target",
    "objective": {"metric": "accuracy", "threshold": 0.85},
}
_IRIS_SPLIT = {"split": {"validation": 0.2, "test": 0.2, "seed": 7, "stratify": True}}

IRIS_FOREST: dict[str, Any] = {
    "problem": copy.deepcopy(_IRIS_PROBLEM),
    "data": {"dataset": "iris"},
    "preparation": copy.deepcopy(_IRIS_SPLIT),
    "model": {"builtin": {"name": "random-forest", "hyperparameters": {"n_estimators": 30}}},
}
"""A random forest on iris: seconds to train."""

IRIS_MLP: dict[str, Any] = {
    "problem": copy.deepcopy(_IRIS_PROBLEM),
    "data": {"dataset": "iris"},
    "preparation": copy.deepcopy(_IRIS_SPLIT),
    "model": {
        "builtin": {"name": "mlp", "hyperparameters": {"hidden_units": [16]}},
        "training": {"epochs": 12, "batchSize": 16, "learningRate": 0.01},
    },
}
"""A small network on iris, trained in epochs (checkpoints, resumption)."""
