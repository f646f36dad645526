"""The bring-your-own-code script that docs/trainer.md shows runs as a TrainingJob under
`kubetrain run`, and what it reports is the job's result and verdict."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kubetrain.cli import app

ROOT = Path(__file__).resolve().parents[3]


def documented_script() -> str:
    text = (ROOT / "docs" / "trainer.md").read_text()
    section = text[text.index("## Bring your own code") :]
    script = re.search(r"```python\n(.*?)```", section, re.S)
    assert script is not None, "docs/trainer.md: no python block under 'Bring your own code'"
    return script.group(1)


def test_the_documented_script_is_short() -> None:
    lines = [line for line in documented_script().splitlines() if line.strip()]
    assert len(lines) <= 10


def test_the_documented_script_trains_and_reports_its_verdict(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(documented_script())
    manifest = {
        "apiVersion": "kubetrain.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "byo-docs"},
        "spec": {
            "problem": {
                "task": "classification",
                "target": "target",
                "objective": {"metric": "accuracy", "threshold": 0.9},
            },
            "data": {"dataset": "iris"},
            "model": {"custom": {"image": "me/trainer:1", "command": ["python", str(script)]}},
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(manifest))
    out = tmp_path / "out"
    outcome = CliRunner().invoke(app, ["run", str(path), "--output", str(out), "-q"])
    assert outcome.exit_code == 0, outcome.output
    assert "Verdict: True (ThresholdMet)" in " ".join(outcome.output.split())
    assert (out / "local/byo-docs/1/output/model.joblib").is_file()
