"""benchmarks/trainer.py at smoke size: Ray Train and torchrun on the same tiny DDP job, a few
sleeping Ray Tune trials against the ideal, and the trainer's tuning with and without ASHA
(`kubetrain run --output`). Checks the code runs and reports; the targets are the benchmark's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_trainer_benchmark_smoke(tmp_path: Path):
    out = tmp_path / "trainer.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/trainer.py", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = " ".join(proc.stdout.split())
    assert "Ray Train vs torchrun DDP, loop" in text and "ASHA vs full search" in text
    parts = {p["part"]: p for p in json.loads(out.read_text())["parts"]}
    ddp, tune, asha = parts["ddp"], parts["tune"], parts["asha"]
    assert ddp["median"]["ray"]["loop"] > 0 and ddp["median"]["torchrun"]["loop"] > 0
    assert tune["trials"] == 4 and tune["median"] >= tune["ideal"] > 0
    # The same 4 trials both ways; ASHA never runs more epochs than the full search.
    assert asha["full"]["trials"] == asha["asha"]["trials"] == 4
    assert asha["full"]["epochs"] == 4 * 3 >= asha["asha"]["epochs"]
