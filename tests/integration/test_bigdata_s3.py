"""Issue 12 against the dev cluster's SeaweedFS: a data set of many Parquet files under one S3
prefix, trained by the pod entry point (local Ray) with one, two and three workers.

Two and three Ray Data workers each read an equal, disjoint shard that together make the whole
training split (the row-hash sums in metadata.json against the split computed here), under a
worker memory limit far smaller than the data set, and score within 0.05 of the one-worker
(pandas) run. The Ray Train run keeps its checkpoints in the job's S3 store, and a second
attempt of the same job resumes from the last of them.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.bigdata import (
    assert_disjoint_complete_shards,
    divisible_seed,
    parts_frame,
    write_parts,
)
from tests.support.cluster import DevCluster
from tests.support.manifests import manifest
from tests.support.trainer import TRAINER_COMMAND, trainer_env

FILES, ROWS, ROUNDS = 12, 250, 20
LIMIT = "64Ki"


@pytest.fixture
def prefix(dev_cluster: DevCluster) -> str:
    return f"bigdata-tests/{uuid.uuid4().hex[:8]}"


def _spec(uri: str, endpoint: str, workers: int, seed: int) -> dict[str, Any]:
    return {
        "problem": {"task": "classification", "target": "label",
                    "objective": {"metric": "accuracy"}},
        "data": {"source": {"uri": uri, "format": "parquet"}, "s3": {"endpoint": endpoint}},
        "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": seed},
                        "features": {"exclude": ["amount"]}},
        "model": {"builtin": {"name": "xgboost",
                              "hyperparameters": {"n_estimators": ROUNDS, "max_depth": 3}}},
        "compute": {"workers": workers, "resources": {"cpu": "1", "memory": LIMIT}},
    }  # fmt: skip


@pytest.mark.timeout(2400)  # four attempts, each starting its own local Ray
def test_one_two_and_three_workers_on_an_s3_prefix_agree_and_resume(
    dev_cluster: DevCluster, prefix: str, tmp_path: Path
) -> None:
    s3 = dev_cluster.s3
    client = s3.client()
    write_parts(
        lambda name, body: client.put_object(Bucket=s3.bucket, Key=f"{prefix}/data/{name}",
                                             Body=body), FILES, ROWS,
    )  # fmt: skip
    data = parts_frame(FILES, ROWS)
    seed = divisible_seed(data)
    out = f"s3://{s3.bucket}/{prefix}/out"
    credentials = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                   "KUBETRAIN_S3_ENDPOINT": s3.endpoint}  # fmt: skip

    def stored(job: str, number: int, name: str) -> dict[str, Any]:
        key = f"{prefix}/out/team/{job}/{number}/{name}"
        loaded: dict[str, Any] = json.loads(
            client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        )
        return loaded

    def attempt(workers: int, number: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
        job = f"parts-{workers}"
        spec_file = tmp_path / f"{job}.yaml"
        document = manifest(_spec(f"s3://{s3.bucket}/{prefix}/data/", s3.endpoint, workers, seed),
                            job)  # fmt: skip
        spec_file.write_text(yaml.safe_dump(document))
        env = trainer_env(spec_file, out, job=job, namespace="team", attempt=number,
                          **credentials)  # fmt: skip
        proc = subprocess.run(TRAINER_COMMAND, env=env, capture_output=True, text=True,
                              timeout=900)  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return stored(job, number, "metadata.json"), stored(job, number, "metrics.json")

    _, one = attempt(1)
    assert one["test"]["accuracy"] >= 0.8
    for workers in (2, 3):
        metadata, metrics = attempt(workers)
        data_path = metadata["data"]
        assert data_path["path"]["name"] == "ray-data"
        assert len(data_path["files"]) == FILES and data_path["bytesRead"] > 0
        assert_disjoint_complete_shards(metadata, workers, data, seed)
        # The limit is far below the data set, and no worker held more than it at once.
        assert data_path["memoryLimitBytesPerWorker"] == 64 * 1024 < data_path["bytesRead"]
        assert all(w["dataPeakBytes"] <= 64 * 1024 for w in data_path["workers"])
        assert abs(metrics["test"]["accuracy"] - one["test"]["accuracy"]) <= 0.05
        assert metadata["training"]["resumedFromEpoch"] is None

    run = metadata["training"]["rayRun"]
    checkpoints = client.list_objects_v2(
        Bucket=s3.bucket, Prefix=f"{prefix}/out/team/parts-3/ray-data/{run}/"
    )
    assert any("checkpoint" in o["Key"] for o in checkpoints.get("Contents", [])), checkpoints
    # A second attempt of the 3-worker job restores the run's last checkpoint from S3: all its
    # rounds are done, so it trains none and scores the same.
    again, again_metrics = attempt(3, number=2)
    assert again["training"]["rayRun"] == run
    assert again["training"]["resumedFromEpoch"] == ROUNDS
    assert again_metrics["test"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
