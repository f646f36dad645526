"""Ray Train data parallelism and Ray Tune search, on one small local Ray (2 CPUs)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

import pytest
from tests.support.trainer import config_of, run_spec

from kubetrain_trainer.errors import TrainerError

CANCER_MLP = {
    "problem": {"task": "classification", "target": "target", "objective": {"metric": "accuracy"}},
    "data": {"dataset": "breast-cancer"},
    "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": 3, "stratify": True}},
    "model": {
        "builtin": {"name": "mlp", "hyperparameters": {"hidden_units": [32]}},
        "training": {"epochs": 10, "batchSize": 32, "learningRate": 0.005},
    },
}


def test_two_cpu_workers_match_single_worker_quality(tmp_path: Path, ray_local: None) -> None:
    single = run_spec(CANCER_MLP, tmp_path / "one")
    double = run_spec({**CANCER_MLP, "compute": {"workers": 2}}, tmp_path / "two")
    assert double.metadata["training"]["workers"] == 2
    assert double.metadata["training"]["epochsRun"] == 10
    one, two = single.evaluation.test["accuracy"], double.evaluation.test["accuracy"]
    assert one >= 0.93 and two >= 0.93
    assert abs(one - two) <= 0.03
    # Rank 0 wrote the checkpoints of the distributed run.
    assert (tmp_path / "two/ns/t/1/checkpoints/latest.json").is_file()


def test_a_worker_exception_is_named_in_the_error(
    tmp_path: Path, ray_local: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 1's forward raises: the one-paragraph error names that rank, exception and frame."""
    from kubetrain_trainer.models import ray_train

    def loop_with_exploding_rank_1(config: dict[str, Any]) -> None:
        # Runs in the Ray Train worker process (pickled by value, being a local function).
        from unittest import mock

        import ray.train
        import torch

        from kubetrain_trainer.models import catalogue, ray_train, torch_train

        real = catalogue.make_network  # the function torch_train imported

        def make_network(definition: catalogue.NetworkDef) -> Any:
            network = real(definition)
            if ray.train.get_context().get_world_rank() == 1:

                def forward(x: torch.Tensor) -> NoReturn:
                    raise ValueError(f"cannot use a batch of shape {tuple(x.shape)}")

                network.forward = forward
            return network

        # torch_train looks the name up in its own module: patched there, restored after.
        with mock.patch.object(torch_train, "make_network", make_network):
            ray_train._worker_loop(config)

    monkeypatch.setattr(ray_train, "_worker_loop", loop_with_exploding_rank_1)
    spec = {**CANCER_MLP, "compute": {"workers": 2}}
    with pytest.raises(TrainerError) as failed:
        run_spec(spec, tmp_path)
    message = failed.value.message
    assert message.startswith("distributed training failed: worker rank 1 raised ValueError: ")
    assert "cannot use a batch of shape (16, 30)" in message
    assert re.search(r"\(at test_distributed\.py:\d+ in forward\)", message), message
    assert "Training failed due to worker errors" not in message


def _iris_tuning(scheduler: str, algorithm: str = "grid") -> dict[str, Any]:
    return {
        # log-loss rather than accuracy: ASHA only stops a trial strictly worse than its rung's
        # cutoff, and on 45 validation rows many trials tie on accuracy after an epoch.
        "problem": {"task": "classification", "target": "target",
                    "objective": {"metric": "log-loss", "threshold": 0.8}},
        "data": {"dataset": "iris"},
        "preparation": {"split": {"validation": 0.3, "test": 0.2, "seed": 5, "stratify": True}},
        "model": {"builtin": {"name": "mlp"},
                  "training": {"epochs": 9, "batchSize": 16, "learningRate": 0.01}},
        "tuning": {
            "algorithm": algorithm,
            "searchSpace": {
                "hidden_units": {"type": "choice", "values": [[4], [16], [32, 16]]},
                "learningRate": {"type": "choice", "values": [0.0005, 0.005, 0.05]},
            },
            "maxTrials": 9, "parallelTrials": 2, "scheduler": scheduler, "gracePeriod": 1,
            "seed": 1,
        },
    }  # fmt: skip


def test_asha_runs_fewer_epochs_than_the_same_search_without_it(
    tmp_path: Path, ray_local: None
) -> None:
    full = run_spec(_iris_tuning("none"), tmp_path / "none")
    asha = run_spec(_iris_tuning("asha"), tmp_path / "asha")
    full_t, asha_t = full.metadata["tuning"], asha.metadata["tuning"]
    assert full_t["trials"] == asha_t["trials"] == 9
    assert full_t["totalEpochs"] == 9 * 9
    assert asha_t["totalEpochs"] < full_t["totalEpochs"]
    assert asha_t["stoppedEarly"] >= 1
    assert asha.evaluation.objective.passed
    trials = json.loads((tmp_path / "asha/ns/t/1/tuning/trials.json").read_text())
    assert len(trials) == 9 and all(
        t["params"]["hidden_units"] in ([4], [16], [32, 16]) for t in trials
    )
    assert (tmp_path / "asha/ns/t/1/plots/tuning_trials.png").is_file()
    progress = json.loads((tmp_path / "asha/ns/t/1/progress.json").read_text())
    assert progress["stage"] == "done"


@pytest.mark.parametrize("algorithm", ["random", "bayesian"])
def test_random_and_bayesian_search_then_retrain(
    tmp_path: Path, ray_local: None, algorithm: str
) -> None:
    spec = {
        "problem": {"task": "classification", "target": "target",
                    "objective": {"metric": "f1", "threshold": 0.85}},
        "data": {"dataset": "wine"},
        "model": {"builtin": {"name": "knn"}},
        "tuning": {
            "algorithm": algorithm,
            "searchSpace": {
                "n_neighbors": {"type": "int", "low": 1, "high": 25},
                "weights": {"type": "choice", "values": ["uniform", "distance"]},
            },
            "maxTrials": 5, "parallelTrials": 2, "seed": 2, "finalModel": "retrain",
        },
    }  # fmt: skip
    result = run_spec(spec, tmp_path)
    tuning = result.metadata["tuning"]
    assert tuning["trials"] == 5 and tuning["errored"] == 0, tuning
    assert 1 <= tuning["bestConfig"]["n_neighbors"] <= 25
    assert (
        result.metadata["model"]["hyperparameters"]["n_neighbors"]
        == tuning["bestConfig"]["n_neighbors"]
    )
    assert result.evaluation.objective.passed, result.evaluation.to_json()


def test_more_failed_trials_than_allowed_fails_the_search(ray_local: None) -> None:
    from kubetrain_trainer.preparation.stage import prepare
    from kubetrain_trainer.tuning.search import TrialContext, run_tuning
    from kubetrain_trainer.tuning.space import SearchDomain, TuneSpec

    config = config_of(
        {
            "problem": {"task": "classification", "target": "target",
                        "objective": {"metric": "accuracy"}},
            "data": {"dataset": "iris"},
            "model": {"builtin": {"name": "knn"}},
        }
    )  # fmt: skip
    from kubetrain_trainer.data.load import load

    prepared = prepare(load(config.data), config.preparation)
    assert prepared.validation is not None
    ctx = TrialContext("classification", config.model, prepared.train, prepared.validation,
                       prepared.preprocessor, config.objective)  # fmt: skip
    spec = TuneSpec(
        search_space={"weights": SearchDomain("choice", values=["uniform", "bogus", "wrong"])},
        algorithm="grid", max_trials=3, max_failed_trials=1,
    )  # fmt: skip
    with pytest.raises(TrainerError, match=r"2 trials failed, more than maxFailedTrials \(1\)"):
        run_tuning(spec, ctx)
