"""Issue 12, data bigger than one machine: the Ray Data path of multi-worker jobs.

Pure parts first (the path choice, the sharded metrics against `evaluate.score`, the
distributed statistics against pandas), then jobs on one small local Ray reading a data set of
many Parquet files: every worker reads a disjoint shard (from the trainer's per-worker counters
in the metadata), the results agree with the single-worker path's, a worker memory limit smaller
than the data set still lets the job finish, and distributed XGBoost/LightGBM match their
single-worker quality. Small data and few epochs/rounds: the machine is shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.support.bigdata import (
    assert_disjoint_complete_shards,
    divisible_seed,
    frame,
    read_all,
    write_local,
)
from tests.support.trainer import config_of, run_spec

from kubetrain.api.data import local_data_allowed
from kubetrain_trainer.distributed import PANDAS, RAY_DATA, choose
from kubetrain_trainer.distributed.evaluation import ScorePartial, empty, metrics_of, partial_of
from kubetrain_trainer.distributed.statistics import Layout, Partial, Summarise
from kubetrain_trainer.evaluation.metrics import score

FILES, ROWS = 12, 250  # 3000 rows in 12 Parquet files


def _job(uri: str, model: str = "mlp", workers: int = 2, task: str = "classification",
         seed: int = 3, **compute: object) -> dict[str, Any]:  # fmt: skip
    target, metric = ("label", "accuracy") if task == "classification" else ("amount", "rmse")
    hyper = {"hidden_units": [16]} if model == "mlp" else {"n_estimators": 30, "max_depth": 4}
    spec: dict[str, Any] = {
        "problem": {"task": task, "target": target, "objective": {"metric": metric}},
        "data": {"source": {"uri": uri, "format": "parquet"}},
        "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": seed},
                        "features": {"exclude": ["amount" if task == "classification" else
                                                 "label"]}},
        "model": {"builtin": {"name": model, "hyperparameters": hyper}},
        "compute": {"workers": workers, **compute},
    }  # fmt: skip
    if model == "mlp":
        spec["model"]["training"] = {"epochs": 2, "batchSize": 64, "learningRate": 0.02}
    return spec


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bigdata") / "parts"
    write_local(directory, FILES, ROWS)
    return directory


def _run(spec: dict[str, Any], out: Path) -> Any:
    with local_data_allowed():
        return run_spec(spec, out)


# -- pure --------------------------------------------------------------------------------------


def test_the_path_is_chosen_automatically_and_says_why(parts: Path) -> None:
    with local_data_allowed():
        many = choose(config_of(_job(str(parts))))
        one = choose(config_of(_job(str(parts), workers=1)))
        forest = choose(config_of({**_job(str(parts)), "model": {"builtin": {
            "name": "random-forest"}}}))  # fmt: skip
    builtin = choose(config_of({**_job(str(parts)), "data": {"dataset": "iris"}}))
    assert many.name == RAY_DATA and "2 workers" in many.reason
    assert one.name == PANDAS and "one worker" in one.reason
    assert forest.name == PANDAS and "random-forest has no distributed trainer" in forest.reason
    assert builtin.name == PANDAS and "built-in data set" in builtin.reason


def test_sharded_metrics_equal_the_whole_set_metrics() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 900)
    proba = rng.dirichlet(np.ones(3), 900)
    proba[np.arange(900), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    merged: ScorePartial = empty("classification", 3)
    for block in np.array_split(np.arange(900), 7):
        merged.merge(partial_of("classification", 3, y[block], pred[block], proba[block]))
    sharded, whole = metrics_of(merged), score("classification", y, pred, proba, 3)
    assert sharded["confusion_matrix"] == whole["confusion_matrix"]
    for name in ("accuracy", "balanced-accuracy", "precision", "recall", "f1", "log-loss"):
        assert sharded[name] == pytest.approx(whole[name], rel=1e-9), name
    assert sharded["roc-auc"] == pytest.approx(whole["roc-auc"], abs=2e-3)  # binned

    truth, guess = rng.normal(5, 2, 800), rng.normal(5, 2, 800)
    merged = empty("regression", 0)
    for block in np.array_split(np.arange(800), 5):
        merged.merge(partial_of("regression", 0, truth[block], guess[block], None))
    sharded, whole = metrics_of(merged), score("regression", truth, guess)
    for name in ("mae", "mse", "rmse", "r2", "mape"):
        assert sharded[name] == pytest.approx(whole[name], rel=1e-9), name


def test_block_statistics_merge_to_the_whole_set_statistics() -> None:
    data = frame(2000, 4)
    layout = Layout("label", "classification", ("a", "b", "c", "d"), ("color",))
    merged = Partial()
    for block in np.array_split(np.arange(len(data)), 9):
        blob = Summarise(layout, 7)(data.iloc[block])["partial"][0]
        merged.merge(pd.read_pickle(__import__("io").BytesIO(blob)))
    assert merged.rows == 2000
    c = data["c"]
    assert merged.numeric["c"].missing == int(c.isna().sum())
    assert merged.numeric["c"].mean == pytest.approx(c.mean(), rel=1e-9)
    assert merged.numeric["c"].std == pytest.approx(c.std(ddof=0), rel=1e-6)
    assert abs(merged.numeric["a"].quantile(0.5) - data["a"].median()) < 0.1  # approximate
    assert dict(merged.categorical["color"]) == data["color"].value_counts().to_dict()
    assert dict(merged.labels) == data["label"].value_counts().to_dict()


def test_worker_cpu_shares_leave_a_whole_cpu_for_the_data_tasks() -> None:
    from kubetrain_trainer.distributed.runner import worker_cpus

    # Three one-CPU pods: half a CPU each packs two workers on one node and frees the third.
    assert worker_cpus([1, 1, 1], 3) == 0.5
    assert worker_cpus([1, 1], 2) == 0.5
    # One local Ray: what is left after one CPU, shared.
    assert worker_cpus([4], 3) == 1.0
    assert worker_cpus([2], 2) == 0.5
    assert worker_cpus([16, 16], 8) == 1.0


# -- on local Ray -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed(parts: Path) -> int:
    return divisible_seed(read_all(parts))


def _assert_disjoint_complete_shards(
    metadata: dict[str, Any], workers: int, parts: Path, seed: int
) -> None:
    assert_disjoint_complete_shards(metadata, workers, read_all(parts), seed)


@pytest.mark.timeout(1800)  # four runs, three of them starting Ray Train worker groups
def test_two_and_three_workers_read_disjoint_shards_and_agree_with_one(
    parts: Path, seed: int, tmp_path: Path, ray_local: None
) -> None:
    one = _run(_job(str(parts), workers=1, seed=seed), tmp_path / "one")
    assert one.metadata["data"]["path"]["name"] == PANDAS
    # Two workers under a memory limit far below the data set's size (streamed, not loaded).
    limited = _job(str(parts), workers=2, seed=seed, resources={"cpu": "1", "memory": "96Ki"})
    two = _run(limited, tmp_path / "two")
    three = _run(_job(str(parts), workers=3, seed=seed, strategy="fsdp"), tmp_path / "three")
    for result, n in ((two, 2), (three, 3)):
        data = result.metadata["data"]
        assert data["path"]["name"] == RAY_DATA
        assert len(data["files"]) == FILES
        _assert_disjoint_complete_shards(result.metadata, n, parts, seed)
        assert abs(result.evaluation.test["accuracy"] - one.evaluation.test["accuracy"]) <= 0.05
    assert three.metadata["training"]["strategy"] == "fsdp"
    data = two.metadata["data"]
    limit = data["memoryLimitBytesPerWorker"]
    assert limit == 96 * 1024 < data["statistics"]["trainRowBytes"] < data["bytesRead"] * 100
    assert all(w["dataPeakBytes"] <= limit and w["peakRssBytes"] > 0 for w in data["workers"])
    report = (tmp_path / "two/ns/t/1/report.html").read_text()
    assert "data path" in report and "worker 1" in report


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("model", ["xgboost", "lightgbm"])
def test_distributed_boosting_matches_its_single_worker_quality(
    model: str, parts: Path, seed: int, tmp_path: Path, ray_local: None
) -> None:
    one = _run(_job(str(parts), model, workers=1, seed=seed), tmp_path / "one")
    two = _run(_job(str(parts), model, workers=2, seed=seed), tmp_path / "two")
    assert two.metadata["data"]["path"]["name"] == RAY_DATA
    _assert_disjoint_complete_shards(two.metadata, 2, parts, seed)
    assert two.evaluation.test["accuracy"] >= 0.8
    assert abs(two.evaluation.test["accuracy"] - one.evaluation.test["accuracy"]) <= 0.05
    # The saved model loads and predicts raw rows like a single-worker one.
    from kubetrain_trainer.predict import load_model

    loaded = load_model(tmp_path / "two/ns/t/1/model")
    assert set(loaded.predict(frame(20, 99))) <= {"yes", "no"}


@pytest.mark.timeout(1200)
def test_the_benchmark_runs_at_its_smoke_size(tmp_path: Path, ray_local: None) -> None:
    import importlib.util

    # benchmarks/ is a folder of scripts, not a package: load the script by its path.
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "bigdata.py"
    loader = importlib.util.spec_from_file_location("bigdata_benchmark", path)
    assert loader is not None and loader.loader is not None
    script = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(script)
    main = script.main

    out = tmp_path / "bigdata.json"
    report = main(["--files", "3", "--rows-per-file", "200", "--workers", "1,2", "--epochs", "1",
                   "--json", str(out)])  # fmt: skip
    assert out.is_file() and report["memoryLimitBytes"] < report["dataBytes"]
    one, two = report["runs"]
    assert (one["workers"], two["workers"]) == (1, 2)
    assert one["scalingEfficiency"] == pytest.approx(1.0)
    assert two["scalingEfficiency"] > 0 and len(two["perWorker"]) == 2
