"""Stage 7: checkpoints at the declared interval, resume on a new attempt, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import NoReturn

import pytest
import yaml
from tests.support.manifests import IRIS_FOREST, IRIS_MLP, manifest
from tests.support.trainer import TRAINER_COMMAND, run_spec, trainer_env

from kubetrain.api.contract import ExitCode
from kubetrain_trainer.errors import Interrupted
from kubetrain_trainer.runtime.checkpoint import StopSignal


class StopAfter(StopSignal):
    """Asks to stop after `calls` polls: the loop polls once per batch and once per epoch."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def requested(self) -> bool:
        self.calls -= 1
        return self.calls < 0


def test_interrupted_run_resumes_from_its_checkpoint_with_the_same_result(tmp_path: Path) -> None:
    baseline = run_spec(IRIS_MLP, tmp_path / "baseline")
    assert baseline.metadata["training"]["epochsRun"] == 12

    out = tmp_path / "out"
    # 90 training rows / 16 per batch = 6 batches + 1 end-of-epoch poll = 7 polls per epoch.
    try:
        run_spec(IRIS_MLP, out, attempt="1", stop=StopAfter(7 * 4))
    except Interrupted as exc:
        assert "after epoch 4" in exc.message
    else:
        raise AssertionError("the stop request was ignored")
    pointer = json.loads((out / "ns/t/1/checkpoints/latest.json").read_text())
    assert pointer["epoch"] == 4

    resumed = run_spec(IRIS_MLP, out, attempt="2")
    training = resumed.metadata["training"]
    assert training["resumedFromEpoch"] == 4
    assert training["epochsRun"] == 8  # fewer epochs the second time
    assert resumed.evaluation.test == baseline.evaluation.test  # same final quality


def test_checkpoints_follow_the_interval_and_keep_the_latest(tmp_path: Path) -> None:
    spec = {**IRIS_MLP, "output": {"checkpointEveryEpochs": 3, "checkpointsToKeep": 2}}
    run_spec(spec, tmp_path)
    names = sorted(p.name for p in (tmp_path / "ns/t/1/checkpoints").glob("*.pt"))
    assert names == ["epoch-000009.pt", "epoch-000012.pt"]


def test_a_checkpoint_of_another_model_is_not_loaded(tmp_path: Path) -> None:
    run_spec(IRIS_MLP, tmp_path, attempt="1")
    other = {**IRIS_MLP, "model": {**IRIS_MLP["model"], "training": {"epochs": 5}}}
    result = run_spec(other, tmp_path, attempt="2")
    assert result.metadata["training"]["resumedFromEpoch"] is None
    assert result.metadata["training"]["epochsRun"] == 5


def test_sigterm_writes_a_checkpoint_and_exits_143(tmp_path: Path) -> None:
    spec = {**IRIS_MLP, "model": {**IRIS_MLP["model"], "training": {"epochs": 400, "batchSize": 8}}}
    spec_file = tmp_path / "job.yaml"
    spec_file.write_text(yaml.safe_dump(manifest(spec, name="sig")))
    env = trainer_env(
        spec_file,
        tmp_path / "out",
        job="sig",
        namespace="ns",
        KUBETRAIN_TERMINATION_LOG=str(tmp_path / "termination-log"),
    )
    child = subprocess.Popen(TRAINER_COMMAND, env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    deadline = time.monotonic() + 240
    for line in child.stdout:
        record = json.loads(line)
        if record.get("stage") == "training" and record.get("completed", 0) >= 2:
            child.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline
    rest = child.stdout.read()
    assert child.wait(timeout=120) == ExitCode.INTERRUPTED
    error = json.loads(rest.strip().splitlines()[-1])
    assert error["kubetrain"] == "error" and error["exitCode"] == 143
    pointer = json.loads((tmp_path / "out/ns/sig/1/checkpoints/latest.json").read_text())
    assert pointer["epoch"] >= 2
    assert "SIGTERM" in (tmp_path / "termination-log").read_text()


def test_a_fitted_scikit_learn_model_is_reused_when_an_attempt_fails_after_fitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubetrain_trainer.artifacts import files as artifacts
    from kubetrain_trainer.models import train as train_module

    baseline = run_spec(IRIS_FOREST, tmp_path / "baseline")

    def upload_fails(*args: object, **kwargs: object) -> NoReturn:
        raise OSError("connection reset while uploading model.joblib")

    monkeypatch.setattr(artifacts, "save_model", upload_fails)
    with pytest.raises(OSError, match="uploading"):
        run_spec(IRIS_FOREST, tmp_path / "out", attempt="1")
    monkeypatch.undo()
    pointer = json.loads((tmp_path / "out/ns/t/1/checkpoints/fitted.json").read_text())
    assert pointer["attempt"] == "1" and pointer["dataHash"]

    # Another spec: the saved fit does not apply, the model is fitted again.
    other = {
        **IRIS_FOREST,
        "model": {"builtin": {"name": "random-forest", "hyperparameters": {"n_estimators": 10}}},
    }
    refitted = run_spec(other, tmp_path / "out", attempt="2")
    assert refitted.metadata["training"]["resumedFromAttempt"] is None

    def no_refit(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("the estimator was fitted again")

    monkeypatch.setattr(train_module, "fit_estimator", no_refit)
    resumed = run_spec(IRIS_FOREST, tmp_path / "out", attempt="3")
    assert resumed.metadata["training"]["resumedFromAttempt"] == "1"
    assert resumed.evaluation.test == baseline.evaluation.test
    assert (tmp_path / "out/ns/t/3/model/model.joblib").is_file()


def test_a_fitted_model_needs_the_same_fingerprint_and_data_hash(tmp_path: Path) -> None:
    from kubetrain_trainer.runtime.checkpoint import CheckpointStore
    from kubetrain_trainer.runtime.storage import LocalStorage

    job = LocalStorage(tmp_path)
    CheckpointStore(job, "1", "spec-a", data_hash="data-a").save_fitted({"fitted": True})

    def reuse(fingerprint: str, data_hash: str) -> object:
        found = CheckpointStore(job, "2", fingerprint, data_hash=data_hash).fitted_model()
        return None if found is None else found[0]

    assert reuse("spec-a", "data-a") == {"fitted": True}
    assert reuse("spec-a", "data-b") is None
    assert reuse("spec-b", "data-a") is None
