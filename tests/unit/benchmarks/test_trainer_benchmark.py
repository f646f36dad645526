"""benchmarks/trainer.py at smoke size: Ray Train and torchrun on the same tiny DDP job, and a
few sleeping Ray Tune trials against the ideal, in one Ray. Checks the code runs and reports;
the targets are the benchmark's. The `asha` part (two `kubetrain run`s of a tuning job, each
starting its own Ray: minutes, not seconds) is left to the benchmark itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_trainer_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "trainer.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/trainer.py", "--smoke", "--part", "ddp", "--part", "tune",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = " ".join(proc.stdout.split())
    assert "Ray Train vs torchrun DDP, loop" in text
    assert "Ray Tune, 4 trials of 0.1 s, reused actors" in text
    parts = {p["part"]: p for p in json.loads(out.read_text())["parts"]}
    ddp, tune = parts["ddp"], parts["tune"]
    assert ddp["median"]["ray"]["loop"] > 0 and ddp["median"]["torchrun"]["loop"] > 0
    assert tune["trials"] == 4 and tune["median"] >= tune["ideal"] > 0
