"""benchmarks/s3_storage.py at smoke size: the trainer's storage layer and raw s3transfer on a
SeaweedFS of the benchmark's own, each operation timed both ways."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_s3_benchmark_smoke(tmp_path: Path):
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
