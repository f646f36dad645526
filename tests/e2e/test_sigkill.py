"""A pod SIGKILLed mid-epoch (no SIGTERM, so no checkpoint on the way out): the next attempt
resumes from the last periodic checkpoint, losing at most one checkpoint interval. For the
trainer pod of a one-pod job, and for a Ray worker pod of a 2-worker job (the operator then
ends the attempt's other pods with SIGTERM, as for any failed attempt)."""

from __future__ import annotations

import contextlib
import re

import pytest
from tests.e2e.test_multi_pod import finished, s3_json
from tests.e2e.test_training import artifacts
from tests.support.examples import example
from tests.support.local_node import sigkill_pod
from tests.support.operator_harness import Harness, wait_for

from kubetrain.api.contract import Files, job_prefix


def sigkilled_and_resumed(
    h: Harness, workers: int, epochs: int, every: int, kill_after: int, pod: str
) -> None:
    """Train, SIGKILL `pod` of attempt 1 once `kill_after` epochs are done, check attempt 2."""
    h.operator()
    manifest = example("multi-worker.yaml", compute={"profile": "local", "workers": workers})
    manifest["spec"]["model"]["training"]["epochs"] = epochs
    manifest["spec"]["output"] = {"checkpointEveryEpochs": every}
    name = manifest["metadata"]["name"]
    h.apply(manifest)

    job = job_prefix("", h.namespace, name).lstrip("/")

    def epochs_done() -> int:
        # The newest checkpoint of attempt 1, read from the store at each poll: status progress
        # comes every few seconds, and on an idle machine a short job can finish in between.
        with contextlib.suppress(Exception):
            return int(s3_json(h, f"{job}/1/{Files.CHECKPOINTS}/latest.json")["epoch"])
        progress = h.status(name).get("progress") or {}
        return int(progress.get("completed") or 0) if progress.get("unit") == "epochs" else 0

    wait_for(lambda: epochs_done() >= kill_after, 600, f"{kill_after} epochs of training")
    assert sigkill_pod(h.cluster, h.namespace, f"{name}-a1-{pod}") >= 1
    status = finished(h, name, 900)
    assert status["attempt"] == 2 and status["failedAttempts"] == 1, status

    first = artifacts(h, f"s3://{h.cluster.s3.bucket}/{job}/1/")
    pointer = s3_json(h, f"{job}/1/{Files.CHECKPOINTS}/latest.json")
    saved = [int(m[1]) for f in first if (m := re.search(r"epoch-(\d+)\.pt$", f))]
    # Attempt 1 checkpointed every `every` epochs, so it died before epoch max(saved) + every;
    # attempt 2 starts from the newest checkpoint it can trust (the pointer is written after
    # the file it names), so at most one interval of epochs is trained again.
    assert pointer["epoch"] % every == 0 and pointer["epoch"] >= kill_after - every, pointer
    assert max(saved) - every <= pointer["epoch"] <= max(saved), (saved, pointer)
    training = s3_json(h, f"{job}/2/{Files.METADATA}")["training"]
    assert training["resumedFromAttempt"] == "1"
    assert training["resumedFromEpoch"] == pointer["epoch"], training
    assert training["epochsRun"] == epochs - pointer["epoch"]
    assert training["workers"] == workers


@pytest.mark.timeout(900)
def test_a_sigkilled_trainer_pod_resumes_from_its_last_checkpoint(harness: Harness) -> None:
    # Long enough that the kill lands mid-training even on an idle machine (~5 ms per epoch).
    sigkilled_and_resumed(harness, workers=1, epochs=1500, every=100, kill_after=200, pod="trainer")


@pytest.mark.timeout(1500)
def test_a_sigkilled_ray_worker_pod_resumes_from_the_last_checkpoint(harness: Harness) -> None:
    sigkilled_and_resumed(harness, workers=2, epochs=60, every=10, kill_after=12, pod="worker-0")
