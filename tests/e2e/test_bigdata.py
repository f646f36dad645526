"""Issue 12 on the dev cluster's local node: a TrainingJob with two Ray workers (two pods) on a
prefix of Parquet files in SeaweedFS takes the Ray Data path, and each worker pod streams a
disjoint shard (its counters in metadata.json)."""

from __future__ import annotations

import pytest
from tests.e2e.test_multi_pod import finished, s3_json
from tests.support.bigdata import write_parts
from tests.support.manifests import manifest
from tests.support.operator_harness import Harness

from kubetrain.api.contract import Files, job_prefix


@pytest.mark.timeout(1200)
def test_a_two_pod_job_streams_disjoint_shards_of_s3_parquet_files(harness: Harness) -> None:
    harness.operator()
    s3 = harness.cluster.s3
    client = s3.client()
    prefix = f"bigdata-e2e/{harness.namespace}"
    write_parts(
        lambda name, body: client.put_object(Bucket=s3.bucket, Key=f"{prefix}/{name}", Body=body),
        8, 200,
    )  # fmt: skip
    name = "parts-two-pods"
    harness.apply(manifest({
        "problem": {"task": "classification", "target": "label",
                    "objective": {"metric": "accuracy"}},
        "data": {"source": {"uri": f"s3://{s3.bucket}/{prefix}/", "format": "parquet"}},
        "preparation": {"features": {"exclude": ["amount"]}},
        "model": {"builtin": {"name": "mlp", "hyperparameters": {"hidden_units": [16]}},
                  "training": {"epochs": 3, "batchSize": 64, "learningRate": 0.01}},
        "compute": {"profile": "local", "workers": 2},
    }, name))  # fmt: skip
    finished(harness, name, 900)
    job = job_prefix("", harness.namespace, name).lstrip("/")
    metadata = s3_json(harness, f"{job}/1/{Files.METADATA}")
    data = metadata["data"]
    assert data["path"]["name"] == "ray-data", data["path"]
    assert [w["rank"] for w in data["workers"]] == [0, 1]
    assert all(w["rows"] > 0 for w in data["workers"])
    assert data["rows"]["train"] - 2 < sum(w["rows"] for w in data["workers"])
    assert s3_json(harness, f"{job}/1/{Files.METRICS}")["test"]["accuracy"] >= 0.8
