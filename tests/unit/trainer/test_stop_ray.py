"""A stop seen by one Ray process: data-parallel ranks stop together after a checkpoint, a
stopped trial keeps its state; the next attempt resumes both (one small local Ray)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.support.manifests import IRIS_MLP
from tests.support.trainer import run_spec

from kubetrain_trainer.errors import Interrupted
from kubetrain_trainer.runtime.checkpoint import StopSignal
from kubetrain_trainer.runtime.storage import LocalStorage

from .test_distributed import CANCER_MLP


class SigtermInRank1(StopSignal):
    """Only rank 1's process sees the stop, after `polls` polls (its pod got the SIGTERM); the
    driver and rank 0 never see it themselves."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.driver, self.polls = os.getpid(), polls

    def requested(self) -> bool:
        if os.getpid() == self.driver:
            return False
        import ray.train

        self.polls -= 1
        return ray.train.get_context().get_world_rank() == 1 and self.polls < 0


@pytest.mark.timeout(1500)  # two Ray Train runs on a shared 2-CPU machine
def test_ranks_stop_together_when_one_sees_the_stop_and_the_next_attempt_resumes(
    tmp_path: Path, ray_local: None
) -> None:
    spec = {**CANCER_MLP, "compute": {"workers": 2}}
    # A rank polls once per batch (11 per epoch here) and once per epoch: stop within epoch 3.
    with pytest.raises(Interrupted, match="ranks stopped together"):
        run_spec(spec, tmp_path, attempt="1", stop=SigtermInRank1(30))
    pointer = json.loads((tmp_path / "ns/t/1/checkpoints/latest.json").read_text())
    assert 1 <= pointer["epoch"] < 10

    resumed = run_spec(spec, tmp_path, attempt="2")
    training = resumed.metadata["training"]
    assert training["resumedFromEpoch"] == pointer["epoch"]
    assert training["resumedFromAttempt"] == "1"
    assert training["epochsRun"] == 10 - pointer["epoch"]
    assert resumed.evaluation.test["accuracy"] >= 0.9


class SigtermDuringFirstTrial(StopSignal):
    """The `polls`-th poll in a trial stands for a SIGTERM on its pod: it writes the marker,
    which the driver (and every other trial) then sees."""

    def __init__(self, attempt_dir: Path, polls: int) -> None:
        super().__init__(marker=LocalStorage(attempt_dir), interval=0)
        self.driver, self.polls = os.getpid(), polls

    def requested(self) -> bool:
        if os.getpid() != self.driver:
            self.polls -= 1
            if self.polls == 0:
                self.announce()
        return super().requested()


@pytest.mark.timeout(1500)
def test_a_stopped_trial_saves_its_state_and_the_next_attempt_resumes_it(
    tmp_path: Path, ray_local: None
) -> None:
    spec = {
        **IRIS_MLP,
        "tuning": {"algorithm": "grid", "maxTrials": 2, "parallelTrials": 1,
                   "searchSpace": {"learningRate": {"type": "choice", "values": [0.01, 0.02]}}},
    }  # fmt: skip
    # 90 training rows / 16 per batch = 6 batches + 1 end-of-epoch poll = 7 polls per epoch:
    # the stop comes in epoch 5 of the first trial, which saves epoch 4.
    with pytest.raises(Interrupted, match="during tuning"):
        run_spec(spec, tmp_path, attempt="1", stop=SigtermDuringFirstTrial(tmp_path / "ns/t/1",
                                                                           7 * 4 + 3))  # fmt: skip
    [saved] = list((tmp_path / "ns/t/tuning").glob("*/partial/*/1/checkpoints/latest.json"))
    assert json.loads(saved.read_text())["epoch"] == 4

    result = run_spec(spec, tmp_path, attempt="2")
    trials = json.loads((tmp_path / "ns/t/2/tuning/trials.json").read_text())
    epochs = {t["params"]["learningRate"]: t["epochs"] for t in trials}
    assert epochs == {0.01: 12 - 4, 0.02: 12}, trials  # the first trial went on from epoch 4
    assert result.metadata["tuning"]["errored"] == 0
