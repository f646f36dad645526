"""The operator-side checks: what the schema cannot see, every problem reported at once."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.examples import EXAMPLES, example
from tests.support.manifests import merge_patch

from kubetrain.api import (
    ComputeProfile,
    FieldError,
    TrainingJob,
    check_training_job,
    invalid_spec_message,
)

CPU = {"cpu": 4, "memory": "8Gi"}
PROFILES = {
    "cpu-general": ComputeProfile(name="cpu-general", resources=CPU),
    "cpu-highmem": ComputeProfile(name="cpu-highmem", resources={"cpu": 4, "memory": "64Gi"}),
    "gpu": ComputeProfile(name="gpu", resources=CPU, gpus=2),
}


def check(
    manifest: dict[str, Any], default_profile: str | None = "cpu-general"
) -> list[FieldError]:
    _, errors = check_training_job(manifest, PROFILES, default_profile)
    return errors


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_passes(path: Any) -> None:
    assert check(example(path.name)) == []


# (behaviour, example, patch, expected errors as "path: message fragment")
CASES = [
    (
        "a hyperparameter the model does not accept",
        "classification-iris.yaml",
        {"spec": {"model": {"builtin": {"hyperparameters": {"n_neighbors": 5}}}}},
        ["spec.model.builtin.hyperparameters.n_neighbors: random-forest has no such"],
    ),
    (
        "a hyperparameter of the wrong type",
        "classification-iris.yaml",
        {"spec": {"model": {"builtin": {"hyperparameters": {"n_estimators": "many"}}}}},
        ["spec.model.builtin.hyperparameters.n_estimators: must be an integer"],
    ),
    (
        "a hyperparameter out of range",
        "classification-iris.yaml",
        {"spec": {"model": {"builtin": {"hyperparameters": {"max_depth": 0}}}}},
        ["spec.model.builtin.hyperparameters.max_depth: must be at least 1"],
    ),
    (
        "a hyperparameter that is not one of its choices",
        "multi-worker.yaml",
        {"spec": {"model": {"builtin": {"hyperparameters": {"activation": "swish"}}}}},
        ["spec.model.builtin.hyperparameters.activation: must be one of relu, gelu, tanh"],
    ),
    (
        "a list hyperparameter with a bad item",
        "multi-worker.yaml",
        {"spec": {"model": {"builtin": {"hyperparameters": {"hidden_units": [64, 0.5]}}}}},
        ["spec.model.builtin.hyperparameters.hidden_units: must be an integer"],
    ),
    (
        "a profile that does not exist",
        "gpu.yaml",
        {"spec": {"compute": {"profile": "gpu-h100"}}},
        ["spec.compute.profile: no compute profile named 'gpu-h100'; profiles: cpu-general"],
    ),
    (
        "more GPUs than the profile has",
        "gpu.yaml",
        {"spec": {"compute": {"gpusPerWorker": 4}}},
        ["spec.compute.gpusPerWorker: profile 'gpu' has 2 GPUs per worker"],
    ),
    (
        "GPUs for a scikit-learn estimator",
        "classification-iris.yaml",
        {"spec": {"compute": {"profile": "gpu", "gpusPerWorker": 1}}},
        [
            "spec.compute.gpusPerWorker: random-forest runs on CPUs; models that use GPUs: "
            "lightgbm, xgboost, mlp, cnn, lstm, gru, text-cnn, text-lstm"
        ],
    ),
    (
        "a target that is not the dataset's",
        "classification-iris.yaml",
        {"spec": {"problem": {"target": "species"}}},
        ["spec.problem.target: dataset iris's target column is 'target'"],
    ),
    (
        "a time column that is not the dataset's",
        "forecasting-co2.yaml",
        {"spec": {"problem": {"timeColumn": "week"}}},
        ["spec.problem.timeColumn: dataset co2's time column is 'date'"],
    ),
    (
        "a threshold the metric can never reach",
        "classification-iris.yaml",
        {"spec": {"problem": {"objective": {"threshold": 95}}}},
        ["spec.problem.objective.threshold: accuracy lies in [0, 1]; 95 can never be met"],
    ),
    (
        "a search-space key the model does not have",
        "tuning-wine.yaml",
        {
            "spec": {
                "tuning": {"searchSpace": {"n_estimators": {"type": "int", "low": 10, "high": 50}}}
            }
        },
        ["spec.tuning.searchSpace.n_estimators: not tunable for mlp"],
    ),
    (
        "a training field tuned for a scikit-learn estimator",
        "tuning-wine.yaml",
        {
            "spec": {
                "model": {"builtin": {"name": "random-forest"}, "training": None},
                "tuning": {"scheduler": "none", "searchSpace": {"hidden_units": None}},
            }
        },
        [
            "spec.tuning.searchSpace.learningRate: not tunable for random-forest",
            "spec.tuning.searchSpace.dropout: not tunable for random-forest",
        ],
    ),
    (
        "a continuous range over an integer hyperparameter",
        "tuning-wine.yaml",
        {
            "spec": {
                "tuning": {"searchSpace": {"batchSize": {"type": "uniform", "low": 8, "high": 64}}}
            }
        },
        ["spec.tuning.searchSpace.batchSize.type: uniform does not fit int"],
    ),
    (
        "a range beyond the hyperparameter's bounds",
        "tuning-wine.yaml",
        {"spec": {"tuning": {"searchSpace": {"dropout": {"high": 1.5}}}}},
        ["spec.tuning.searchSpace.dropout.high: must be at most 0.99"],
    ),
    (
        "a choice value of the wrong type",
        "tuning-wine.yaml",
        {"spec": {"tuning": {"searchSpace": {"hidden_units": {"values": [[32], "wide"]}}}}},
        ["spec.tuning.searchSpace.hidden_units.values[1]: must be a list of 1 to 16 integers"],
    ),
    (
        "a grid larger than maxTrials",
        "tuning-wine.yaml",
        {
            "spec": {
                "tuning": {
                    "algorithm": "grid",
                    "maxTrials": 10,
                    "searchSpace": {
                        "learningRate": {
                            "type": "choice",
                            "values": [0.1, 0.01],
                            "low": None,
                            "high": None,
                        },
                        "dropout": {
                            "type": "choice",
                            "values": [0.0, 0.5],
                            "low": None,
                            "high": None,
                            "step": None,
                        },
                        "batchSize": {"type": "int", "low": 8, "high": 64, "step": 8},
                    },
                }
            }
        },
        ["spec.tuning.maxTrials: the grid has 96 combinations, more than maxTrials (10)"],
    ),
    (
        "an early-stopping scheduler for an estimator",
        "tuning-wine.yaml",
        {
            "spec": {
                "model": {"builtin": {"name": "knn"}, "training": None},
                "tuning": {"searchSpace": {"n_neighbors": {"type": "int", "low": 1, "high": 9}}},
            }
        },
        [
            "spec.tuning.searchSpace.hidden_units: not tunable for knn",
            "spec.tuning.searchSpace.learningRate: not tunable for knn",
            "spec.tuning.searchSpace.dropout: not tunable for knn",
            "spec.tuning.scheduler: asha needs a model trained in epochs",
        ],
    ),
    (
        "a grace period as long as training",
        "tuning-wine.yaml",
        {"spec": {"tuning": {"gracePeriod": 30}}},
        ["spec.tuning.gracePeriod: must be less than epochs (30)"],
    ),
]


@pytest.mark.parametrize(
    ("example_name", "patch", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_semantic_check(example_name: str, patch: dict[str, Any], expected: list[str]) -> None:
    errors = [str(e) for e in check(merge_patch(example(example_name), patch))]
    assert len(errors) == len(expected), errors
    for error, fragment in zip(errors, expected, strict=True):
        assert error.startswith(fragment), errors


def test_every_problem_is_reported_at_once() -> None:
    manifest = merge_patch(
        example("tuning-wine.yaml"),
        {
            "spec": {
                "problem": {"target": "cultivar", "objective": {"threshold": 2}},
                "model": {"builtin": {"hyperparameters": {"depth": 3}}},
                "compute": {"profile": "gpu-x"},
                "tuning": {"searchSpace": {"colour": {"type": "choice", "values": ["red"]}}},
            }
        },
    )
    paths = [e.path for e in check(manifest)]
    assert paths == [
        "spec.problem.target",
        "spec.problem.objective.threshold",
        "spec.model.builtin.hyperparameters.depth",
        "spec.compute.profile",
        "spec.tuning.searchSpace.colour",
    ]


def test_no_profile_and_no_default_is_a_problem() -> None:
    errors = check(example("classification-iris.yaml"), default_profile=None)
    assert [e.path for e in errors] == ["spec.compute.profile"]


def test_explicit_resources_need_no_profile() -> None:
    assert check(example("multi-worker.yaml"), default_profile=None) == []


def test_schema_problems_come_back_as_field_errors_not_exceptions() -> None:
    manifest = merge_patch(
        example("classification-iris.yaml"), {"spec": {"compute": {"workers": 0}}}
    )
    job, errors = check_training_job(manifest, PROFILES, "cpu-general")
    assert job is None
    assert [e.path for e in errors] == ["spec.compute.workers"]


def test_a_valid_job_comes_back_parsed() -> None:
    job, errors = check_training_job(example("classification-iris.yaml"), PROFILES, "cpu-general")
    assert errors == [] and isinstance(job, TrainingJob)


def test_invalid_spec_message_lists_every_problem() -> None:
    errors = [FieldError("spec.a", "is wrong"), FieldError("spec.b", "is missing")]
    assert invalid_spec_message(errors) == "2 problems: spec.a: is wrong; spec.b: is missing"
