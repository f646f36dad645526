"""Issue 12 on the dev cluster's local node: a TrainingJob with two or three Ray workers (a pod
each) on a prefix of Parquet files in SeaweedFS takes the Ray Data path, and each worker pod
streams an equal, disjoint shard that together make the whole training split (the counters in
metadata.json against the split computed here)."""

from __future__ import annotations

import pytest
from tests.e2e.test_multi_pod import finished, s3_json
from tests.support.bigdata import (
    assert_disjoint_complete_shards,
    divisible_seed,
    parts_frame,
    write_parts,
)
from tests.support.manifests import manifest
from tests.support.operator_harness import Harness

from kubetrain.api.contract import Files, job_prefix

FILES, ROWS = 8, 200


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("workers", [2, 3])
def test_worker_pods_stream_disjoint_shards_of_s3_parquet_files(
    harness: Harness, workers: int
) -> None:
    harness.operator()
    s3 = harness.cluster.s3
    client = s3.client()
    prefix = f"bigdata-e2e/{harness.namespace}"
    write_parts(
        lambda name, body: client.put_object(Bucket=s3.bucket, Key=f"{prefix}/{name}", Body=body),
        FILES, ROWS,
    )  # fmt: skip
    data = parts_frame(FILES, ROWS)
    seed = divisible_seed(data)
    name = f"parts-{workers}-pods"
    harness.apply(manifest({
        "problem": {"task": "classification", "target": "label",
                    "objective": {"metric": "accuracy"}},
        "data": {"source": {"uri": f"s3://{s3.bucket}/{prefix}/", "format": "parquet"}},
        "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": seed},
                        "features": {"exclude": ["amount"]}},
        "model": {"builtin": {"name": "mlp", "hyperparameters": {"hidden_units": [16]}},
                  "training": {"epochs": 3, "batchSize": 64, "learningRate": 0.01}},
        "compute": {"profile": "local", "workers": workers},
    }, name))  # fmt: skip
    finished(harness, name, 900)
    job = job_prefix("", harness.namespace, name).lstrip("/")
    metadata = s3_json(harness, f"{job}/1/{Files.METADATA}")
    assert metadata["data"]["path"]["name"] == "ray-data", metadata["data"]["path"]
    assert_disjoint_complete_shards(metadata, workers, data, seed)
    assert s3_json(harness, f"{job}/1/{Files.METRICS}")["test"]["accuracy"] >= 0.8
