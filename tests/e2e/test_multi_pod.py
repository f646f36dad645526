"""Several pods, one attempt: Ray Tune's trials on every pod keep their storage in the job's S3
store, and a suspend (SIGTERM to every pod) checkpoints every rank before the pods exit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.test_training import artifacts
from tests.support.examples import example
from tests.support.operator_harness import Harness, wait_for

from kubetrain.api.contract import Files, job_prefix


def s3_json(h: Harness, key: str) -> Any:
    body = h.cluster.s3.client().get_object(Bucket=h.cluster.s3.bucket, Key=key)["Body"]
    return json.loads(body.read())


def pod_logs(h: Harness, name: str) -> str:
    return "\n".join(
        f"--- {p['metadata']['name']} ({p['status'].get('phase')})\n"
        + h.cluster.kubectl(
            "logs", p["metadata"]["name"], "-n", h.namespace, "--tail=40", check=False
        ).stdout
        for p in h.pods(name)
    )


def finished(h: Harness, name: str, timeout: float) -> dict[str, Any]:
    wait_for(
        lambda: h.status(name).get("phase") in ("Succeeded", "Failed"), timeout, f"{name} to end"
    )
    status = h.status(name)
    if status["phase"] != "Succeeded":
        raise AssertionError(f"{status.get('message')}\n{status.get('conditions')}\n"
                             + pod_logs(h, name))  # fmt: skip
    return status


@pytest.mark.timeout(1200)
def test_a_suspended_two_worker_job_resumes_from_the_checkpoint_of_its_ranks(
    harness: Harness,
) -> None:
    harness.operator()
    manifest = example("multi-worker.yaml", compute={"profile": "local", "workers": 2})
    manifest["spec"]["model"]["training"]["epochs"] = 150
    # No periodic checkpoint before the end: attempt 1's checkpoint is the one SIGTERM wrote.
    manifest["spec"]["output"] = {**manifest["spec"].get("output", {}),
                                  "checkpointEveryEpochs": 150}  # fmt: skip
    name = manifest["metadata"]["name"]
    harness.apply(manifest)

    def epochs_done() -> int:
        progress = harness.status(name).get("progress") or {}
        return int(progress.get("completed") or 0) if progress.get("unit") == "epochs" else 0

    wait_for(lambda: epochs_done() >= 3, 600, "three epochs of training")
    harness.patch_spec(name, {"runPolicy": {"suspend": True}})
    wait_for(lambda: harness.status(name).get("phase") == "Suspended", 60, "Suspended")
    wait_for(
        lambda: not any(p["status"].get("phase") == "Running" for p in harness.pods(name)),
        120,
        "the pods to stop",
    )
    bucket = harness.cluster.s3.bucket
    job = job_prefix("", harness.namespace, name).lstrip("/")
    first = artifacts(harness, f"s3://{bucket}/{job}/1/")
    assert Files.STOP in first, "no pod wrote the stop marker"
    pointer = s3_json(harness, f"{job}/1/{Files.CHECKPOINTS}/latest.json")
    assert 3 <= pointer["epoch"] < 150, pointer
    assert pointer["attempt"] == "1"

    harness.patch_spec(name, {"runPolicy": {"suspend": False}})
    status = finished(harness, name, 900)
    assert status["attempt"] == 2
    assert "failedAttempts" not in status
    training = s3_json(harness, f"{job}/2/{Files.METADATA}")["training"]
    assert training["resumedFromEpoch"] == pointer["epoch"], training
    assert training["resumedFromAttempt"] == "1"
    assert training["workers"] == 2
    assert training["epochsRun"] == 150 - pointer["epoch"]
