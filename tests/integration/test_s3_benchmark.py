"""benchmarks/s3_storage.py at smoke size: the trainer's storage layer and raw s3transfer on a
SeaweedFS of the benchmark's own, each operation timed both ways."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_s3_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "s3.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/s3_storage.py", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    header = "operation MiB trainer s raw s trainer MiB/s raw MiB/s ratio"
    assert header in " ".join(proc.stdout.split())
    result = json.loads(out.read_text())
    operations = {r["operation"]: r for r in result["operations"]}
    assert set(operations) == {"data load", "checkpoint save", "checkpoint load"}
    for row in operations.values():
        assert row["bytes"] > 0 and row["trainerSeconds"] > 0 and row["rawSeconds"] > 0
        assert row["ratio"] == round(row["rawSeconds"] / row["trainerSeconds"], 3)


def test_a_large_write_goes_up_in_parts_and_reads_back_whole(tmp_path: Path) -> None:
    """write_bytes above MULTIPART_THRESHOLD (a large checkpoint) is a multipart upload, whose
    object appears complete: the ETag of a multipart object ends in -<parts>."""
    from kubetrain.dev.runstore import RunStore
    from kubetrain_trainer.runtime.storage import MULTIPART_THRESHOLD, S3Settings, S3Storage

    store = RunStore(tmp_path / "store")
    endpoint, started = store.launch()
    try:
        store.wait(endpoint, started)
        storage = S3Storage(endpoint.bucket, "large", S3Settings(
            endpoint.endpoint, endpoint.access_key, endpoint.secret_key))  # fmt: skip
        data = bytes(range(256)) * (MULTIPART_THRESHOLD // 256 + 1)
        storage.write_bytes("checkpoint.pt", data)
        head = storage.client.head_object(Bucket=endpoint.bucket, Key="large/checkpoint.pt")
        assert head["ContentLength"] == len(data) and "-" in head["ETag"]
        storage.download_file("checkpoint.pt", tmp_path / "back.pt")
        assert (tmp_path / "back.pt").read_bytes() == data
    finally:
        store.stop()
