"""progress.json: what `kubectl get tj` shows while a job runs and after it is done."""

from __future__ import annotations

import json
from pathlib import Path

from kubetrain.api.contract import Files, ProgressFile, parse_file
from kubetrain_trainer.runtime.progress import ProgressReporter
from kubetrain_trainer.runtime.storage import LocalStorage


def written(tmp_path: Path) -> ProgressFile:
    parsed = parse_file(ProgressFile, json.loads((tmp_path / Files.PROGRESS).read_text()))
    assert parsed is not None
    return parsed


def test_done_keeps_the_trials_of_a_tuned_job(tmp_path: Path) -> None:
    progress = ProgressReporter(LocalStorage(tmp_path), echo=False, min_interval=0)
    progress.update("tuning", completed=12, total=12, unit="trials")
    progress.update("training", completed=3, total=5, unit="epochs")
    progress.update("evaluation")
    progress.update("done", force=True)
    assert (written(tmp_path).stage, written(tmp_path).summary) == ("done", "12/12 trials")


def test_done_keeps_the_epochs_of_a_trained_network(tmp_path: Path) -> None:
    progress = ProgressReporter(LocalStorage(tmp_path), echo=False, min_interval=0)
    progress.update("training", completed=3, total=3, unit="epochs")
    progress.update("artifacts")
    progress.update("done", force=True)
    assert written(tmp_path).summary == "3/3 epochs"


def test_health_findings_are_written_for_the_operator(tmp_path: Path) -> None:
    progress = ProgressReporter(LocalStorage(tmp_path), echo=False, min_interval=0)
    finding = {"reason": "NonFiniteLoss", "message": "the loss became NaN"}
    progress.update("training", completed=1, total=4, unit="epochs", health=[finding])
    assert [h.reason for h in written(tmp_path).health] == ["NonFiniteLoss"]
