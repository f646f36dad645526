"""benchmarks/quickstart.py at smoke size: one `kubetrain run --output DIR` of the quickstart,
its wall time broken down into the phases and stages the benchmark's table shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_quickstart_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "quickstart.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/quickstart.py", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    header = "scenario runs wall s cpu s startup trainer imports store"
    assert header in " ".join(proc.stdout.split())
    result = json.loads(out.read_text())
    (row,) = result["scenarios"]
    assert row["scenario"] == "output" and row["runs"] == 1
    assert set(row["phases"]) >= {"startup", "imports", "manifest", "workflow", "summary"}
    assert set(row["stages"]) >= {"data", "preparation", "training", "evaluation", "artifacts"}
    assert row["wall"] + 0.05 >= sum(row["phases"].values()) > 0
    assert result["machine"]["cores"] >= 1 and result["machine"]["versions"]["torch"]
