"""Issue 12 against the dev cluster's SeaweedFS: a data set of many Parquet files under one S3
prefix, trained by the pod entry point with two Ray Data workers (local Ray).

Each worker reads a disjoint shard (the counters in metadata.json), the Ray Train run keeps its
checkpoints in the job's S3 store, and a second attempt of the same job finds them there.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.bigdata import write_parts
from tests.support.cluster import DevCluster
from tests.support.manifests import manifest
from tests.support.trainer import TRAINER_COMMAND, trainer_env

FILES, ROWS = 10, 200


@pytest.fixture
def prefix(dev_cluster: DevCluster) -> str:
    return f"bigdata-tests/{uuid.uuid4().hex[:8]}"


@pytest.mark.timeout(1800)  # two attempts, each starting its own local Ray
def test_two_workers_stream_disjoint_shards_of_an_s3_prefix(
    dev_cluster: DevCluster, prefix: str, tmp_path: Path
) -> None:
    s3 = dev_cluster.s3
    client = s3.client()
    write_parts(
        lambda name, body: client.put_object(Bucket=s3.bucket, Key=f"{prefix}/data/{name}",
                                             Body=body), FILES, ROWS,
    )  # fmt: skip
    document = manifest({
        "problem": {"task": "classification", "target": "label",
                    "objective": {"metric": "accuracy"}},
        "data": {"source": {"uri": f"s3://{s3.bucket}/{prefix}/data/", "format": "parquet"},
                 "s3": {"endpoint": s3.endpoint}},
        "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": 3},
                        "features": {"exclude": ["amount"]}},
        "model": {"builtin": {"name": "xgboost",
                              "hyperparameters": {"n_estimators": 20, "max_depth": 3}}},
        "compute": {"workers": 2, "resources": {"cpu": "1", "memory": "64Ki"}},
    }, "parts-s3")  # fmt: skip
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(document))
    out = f"s3://{s3.bucket}/{prefix}/out"
    credentials = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                   "KUBETRAIN_S3_ENDPOINT": s3.endpoint}  # fmt: skip

    def attempt(number: int) -> dict[str, Any]:
        env = trainer_env(spec_file, out, job="parts-s3", namespace="team", attempt=number,
                          **credentials)  # fmt: skip
        proc = subprocess.run(TRAINER_COMMAND, env=env, capture_output=True, text=True,
                              timeout=900)  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        key = f"{prefix}/out/team/parts-s3/{number}/metadata.json"
        metadata: dict[str, Any] = json.loads(
            client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        )
        return metadata

    first = attempt(1)
    data = first["data"]
    assert data["path"]["name"] == "ray-data"
    assert len(data["files"]) == FILES and data["bytesRead"] > 0
    workers = data["workers"]
    assert [w["rank"] for w in workers] == [0, 1]
    train_rows = data["rows"]["train"]
    assert train_rows - 2 < sum(w["rows"] for w in workers) <= train_rows
    assert all(w["rows"] > 0 and w["dataPeakBytes"] <= 64 * 1024 for w in workers)
    metrics = json.loads(
        client.get_object(Bucket=s3.bucket, Key=f"{prefix}/out/team/parts-s3/1/metrics.json")[
            "Body"
        ].read()
    )
    assert metrics["test"]["accuracy"] >= 0.8  # fmt: skip
    run = first["training"]["rayRun"]
    job = f"{prefix}/out/team/parts-s3"
    stored = client.list_objects_v2(Bucket=s3.bucket, Prefix=f"{job}/ray-data/{run}/")
    assert any("checkpoint" in o["Key"] for o in stored.get("Contents", [])), stored

    second = attempt(2)  # the same run: Ray Train restores its latest checkpoint from S3
    assert second["training"]["rayRun"] == run
