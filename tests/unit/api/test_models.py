"""The pydantic models: examples parse, defaults match the CRD's, helpers resolve defaults."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support.examples import EXAMPLES, example

from kubetrain.api import (
    ComputeProfile,
    DataFormat,
    DataSource,
    Direction,
    Metric,
    Objective,
    Phase,
    Progress,
    ProgressUnit,
    TrainingJob,
    TrainingJobSpec,
)
from kubetrain.api.crdgen import crd


def load(manifest: dict[str, Any]) -> TrainingJob:
    return TrainingJob.model_validate(manifest, by_alias=True, by_name=False)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_parses_and_round_trips(path: Any) -> None:
    job = load(example(path.name))
    assert load(job.to_kubernetes()) == job


def test_examples_cover_every_task_and_feature() -> None:
    specs = [load(example(p.name)).spec for p in EXAMPLES]
    assert {s.problem.task for s in specs} == {
        "classification",
        "regression",
        "forecasting",
        "image-classification",
        "text-classification",
    }
    assert any(s.tuning for s in specs)
    assert any(s.model.custom for s in specs)
    assert any(s.compute.workers > 1 for s in specs)
    assert any(s.compute.gpus_per_worker for s in specs)


def test_python_names_build_the_same_spec_as_kubernetes_names() -> None:
    spec = TrainingJobSpec(
        problem={"task": "classification", "target": "target", "objective": {"metric": "f1"}},
        data={"dataset": "iris"},
        model={"builtin": {"name": "knn"}},
        run_policy={"backoff_limit": 0},
    )
    assert spec.to_kubernetes()["runPolicy"]["backoffLimit"] == 0


def test_manifests_must_use_kubernetes_names() -> None:
    manifest = example("classification-iris.yaml")
    manifest["spec"]["run_policy"] = {"backoff_limit": 0}
    with pytest.raises(ValueError, match="run_policy"):
        load(manifest)


def apply_schema_defaults(schema: dict[str, Any], value: Any) -> Any:
    """What the API server does to a value: fill absent properties that have a default, and
    recurse (defaults of nested objects apply once their parent exists)."""
    if isinstance(value, dict) and "properties" in schema:
        value = dict(value)
        for name, prop in schema["properties"].items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                value[name] = apply_schema_defaults(prop, value[name])
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        value = {
            k: apply_schema_defaults(schema["additionalProperties"], v) for k, v in value.items()
        }
    elif isinstance(value, list) and "items" in schema:
        value = [apply_schema_defaults(schema["items"], item) for item in value]
    return value


SPEC_SCHEMA = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def drop_keys(value: Any, keep: list[bool]) -> Any:
    """`value` with some keys of its objects dropped (one flag drawn per key, cycled)."""
    flags = iter(keep * 1000)

    def walk(node: Any, depth: int) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, depth + 1) for k, v in node.items() if depth < 1 or next(flags)}
        return node

    return walk(value, 0)


@given(
    path=st.sampled_from(EXAMPLES),
    keep=st.lists(st.booleans(), min_size=1, max_size=40),
)
def test_schema_defaults_match_pydantic_defaults(path: Any, keep: list[bool]) -> None:
    """For any valid spec, the CRD's defaults give what pydantic's defaults give."""
    raw = drop_keys(example(path.name)["spec"], keep)
    try:
        spec = TrainingJobSpec.model_validate(raw, by_alias=True, by_name=False)
    except ValueError:
        return  # dropping a required field made it invalid: not this test's business
    assert apply_schema_defaults(SPEC_SCHEMA, raw) == spec.to_kubernetes()


def test_objective_direction_defaults_from_the_metric() -> None:
    assert Objective(metric=Metric.RMSE).resolved_direction == Direction.MINIMIZE
    assert Objective(metric=Metric.ROC_AUC).resolved_direction == Direction.MAXIMIZE


@pytest.mark.parametrize(
    ("uri", "format_", "expected"),
    [
        ("s3://data/train.parquet", None, DataFormat.PARQUET),
        ("s3://data/train.csv", None, DataFormat.CSV),
        ("s3://data/train/", DataFormat.PARQUET, DataFormat.PARQUET),
    ],
)
def test_data_format_defaults_from_the_extension(
    uri: str, format_: DataFormat | None, expected: DataFormat
) -> None:
    assert DataSource(uri=uri, format=format_).resolved_format == expected


def test_sklearn_estimators_have_no_training_settings_and_networks_default_them() -> None:
    forest = load(example("classification-iris.yaml")).spec.model
    assert forest.resolved_training is None
    cnn = load(example("gpu.yaml")).spec.model
    assert cnn.resolved_training is not None and cnn.resolved_training.epochs == 10


def test_forecasting_lookback_defaults_to_four_horizons() -> None:
    spec = load(example("forecasting-co2.yaml")).spec
    assert spec.problem.resolved_lookback == 52
    spec.problem.lookback = None
    assert spec.problem.resolved_lookback == 16


def test_default_split_applies_unless_cross_validating() -> None:
    assert load(example("gpu.yaml")).spec.preparation.resolved_split is not None
    assert load(example("regression-diabetes.yaml")).spec.preparation.resolved_split is None


def test_grid_size_counts_combinations() -> None:
    spec = load(example("tuning-wine.yaml")).spec
    assert spec.tuning is not None and spec.tuning.grid_size is None  # continuous domains
    spec.tuning.search_space = {
        k: v for k, v in spec.tuning.search_space.items() if k == "hidden_units"
    }
    assert spec.tuning.grid_size == 3


def test_terminal_phases() -> None:
    assert {p for p in Phase if p.is_terminal} == {Phase.SUCCEEDED, Phase.FAILED}


def test_progress_summary_is_what_kubectl_shows() -> None:
    assert Progress.of(7, 10, ProgressUnit.EPOCHS).summary == "7/10 epochs"


def test_gpu_profiles_are_named_gpu() -> None:
    resources = {"cpu": 8, "memory": "32Gi"}
    ComputeProfile(name="gpu-a100", resources=resources, gpus=4)
    ComputeProfile(name="cpu-general", resources=resources)
    with pytest.raises(ValueError, match="named gpu"):
        ComputeProfile(name="cpu-general", resources=resources, gpus=1)
    with pytest.raises(ValueError, match="named gpu"):
        ComputeProfile(name="gpu", resources=resources)
