"""Ray Tune search: the median-stopping rule, the time budget, resume across attempts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.trainer import run_spec

from kubetrain_trainer.errors import Interrupted
from kubetrain_trainer.runtime.checkpoint import StopSignal


def _iris_mlp_search(scheduler: str) -> dict[str, Any]:
    return {
        "problem": {"task": "classification", "target": "target",
                    "objective": {"metric": "log-loss"}},
        "data": {"dataset": "iris"},
        "preparation": {"split": {"validation": 0.3, "test": 0.2, "seed": 5, "stratify": True}},
        "model": {"builtin": {"name": "mlp", "hyperparameters": {"hidden_units": [8]}},
                  "training": {"epochs": 6, "batchSize": 16}},
        "tuning": {
            "algorithm": "grid",
            # Two learning rates far too small to move the loss, two that learn: the median rule
            # must stop the former once a learning trial has set the median.
            "searchSpace": {"learningRate": {"type": "choice",
                                             "values": [0.05, 0.00001, 0.02, 0.00002]}},
            "maxTrials": 4, "parallelTrials": 1, "scheduler": scheduler, "gracePeriod": 1,
        },
    }  # fmt: skip


def test_median_stopping_runs_fewer_epochs_than_every_trial_to_the_end(
    tmp_path: Path, ray_local: None
) -> None:
    result = run_spec(_iris_mlp_search("median"), tmp_path)
    tuning = result.metadata["tuning"]
    # Without a scheduler every trial runs every epoch (test_distributed's ASHA test checks it).
    assert tuning["trials"] == 4 and tuning["errored"] == 0
    assert tuning["totalEpochs"] < 4 * 6, tuning
    assert tuning["stoppedEarly"] >= 1
    trials = json.loads((tmp_path / "ns/t/1/tuning/trials.json").read_text())
    stopped = {t["params"]["learningRate"] for t in trials if t["epochs"] < 6}
    assert stopped and stopped <= {0.00001, 0.00002}, trials
    assert tuning["bestConfig"]["learningRate"] in (0.05, 0.02)


def _iris_knn_search(algorithm: str, **tuning: object) -> dict[str, Any]:
    space = (
        {"n_neighbors": {"type": "choice", "values": [1, 3, 5, 9, 15, 40]}}
        if algorithm == "grid"
        else {"n_neighbors": {"type": "int", "low": 1, "high": 40},
              "weights": {"type": "choice", "values": ["uniform", "distance"]}}
    )  # fmt: skip
    return {
        "problem": {"task": "classification", "target": "target",
                    "objective": {"metric": "log-loss"}},
        "data": {"dataset": "iris"},
        "model": {"builtin": {"name": "knn"}},
        "tuning": {"algorithm": algorithm, "searchSpace": space, "maxTrials": 6,
                   "parallelTrials": 1, "seed": 3, **tuning},
    }  # fmt: skip


def test_the_time_budget_ends_the_search_with_a_result(tmp_path: Path, ray_local: None) -> None:
    # Long enough for a first trial on a loaded 2-core machine, far too short for 1,000
    # (trials reuse their actors: a k-NN trial on iris takes tens of milliseconds).
    spec = _iris_knn_search("random", maxTrials=1000, timeBudgetSeconds=10)
    result = run_spec(spec, tmp_path)
    tuning = result.metadata["tuning"]
    assert 1 <= tuning["trials"] < 1000, tuning
    assert tuning["seconds"] < 90
    assert result.evaluation.objective.value is not None
    assert (tmp_path / "ns/t/1/model/model.joblib").is_file()


class StopAfterTrials(StopSignal):
    """SIGTERM as soon as `count` trials of the job are recorded as finished."""

    def __init__(self, job_dir: Path, count: int) -> None:
        super().__init__()
        self.job_dir, self.count = job_dir, count

    def requested(self) -> bool:
        return len(list(self.job_dir.glob("tuning/*/trials/*.json"))) >= self.count


@pytest.mark.parametrize("algorithm", ["grid", "bayesian"])
def test_a_new_attempt_runs_only_the_trials_the_last_one_did_not_finish(
    tmp_path: Path, ray_local: None, algorithm: str
) -> None:
    spec = _iris_knn_search(algorithm)
    with pytest.raises(Interrupted, match="2 finished trials are kept"):
        run_spec(spec, tmp_path, attempt="1", stop=StopAfterTrials(tmp_path / "ns/t", 2))

    result = run_spec(spec, tmp_path, attempt="2")
    tuning = result.metadata["tuning"]
    assert tuning["trials"] == 6 and tuning["resumedTrials"] == 2, tuning
    trials = json.loads((tmp_path / "ns/t/2/tuning/trials.json").read_text())
    assert [t["attempt"] for t in trials].count("1") == 2
    assert [t["attempt"] for t in trials].count("2") == 4
    assert tuning["bestValue"] == min(t["objective"] for t in trials)
    chosen = result.metadata["model"]["hyperparameters"]
    assert chosen["n_neighbors"] == tuning["bestConfig"]["n_neighbors"]
    if algorithm == "grid":  # every combination exactly once over the two attempts
        assert sorted(t["params"]["n_neighbors"] for t in trials) == [1, 3, 5, 9, 15, 40]
