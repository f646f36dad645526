"""The whole attempt: `python -m kubetrain_trainer` on iris writes every artifact."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from tests.support.manifests import IRIS_FOREST, IRIS_MLP, manifest
from tests.support.trainer import TRAINER_COMMAND, run_spec, trainer_env

from kubetrain_trainer.predict import load_model
from kubetrain_trainer.runtime.progress import read_progress
from kubetrain_trainer.runtime.storage import LocalStorage


def test_pod_entry_point_writes_every_artifact(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(manifest(IRIS_FOREST, name="iris")))
    env = trainer_env(spec_file, tmp_path / "out", job="iris", namespace="team-a")
    proc = subprocess.run(TRAINER_COMMAND, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert next(r["stage"] for r in lines if r["kubetrain"] == "progress") == "data"
    result = lines[-1]
    assert result["kubetrain"] == "result" and result["passed"] is True

    attempt = tmp_path / "out/team-a/iris/1"
    expected = ["metrics.json", "spec.json", "metadata.json", "report.html", "progress.json"]
    expected += ["model/model.joblib", "model/model.json", "plots/confusion_matrix.png"]
    for name in expected:
        assert (attempt / name).is_file(), name
    metrics = json.loads((attempt / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9
    assert metrics["objective"] == {
        "metric": "accuracy", "value": metrics["test"]["accuracy"], "threshold": 0.85,
        "direction": "maximize", "passed": True,
    }  # fmt: skip
    metadata = json.loads((attempt / "metadata.json").read_text())
    assert len(metadata["data"]["contentHash"]) == 64
    assert {"scikit-learn", "torch", "python"} <= set(metadata["libraries"])
    assert set(metadata["durations"]) >= {"data", "preparation", "training", "evaluation"}
    assert metadata["computeUsed"]["cpuSeconds"] > 0
    assert metadata["seed"] == 7
    assert json.loads((attempt / "spec.json").read_text())["problem"]["target"] == "target"
    assert (attempt / "plots/confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (attempt / "report.html").read_text()
    assert "data:image/png;base64," in html and "threshold met" in html
    assert "src='http" not in html and 'src="http' not in html  # self-contained
    progress = read_progress(LocalStorage(attempt))
    assert progress is not None and progress["stage"] == "done"


def test_network_run_has_learning_curves_and_a_loadable_state_dict(tmp_path: Path) -> None:
    result = run_spec(IRIS_MLP, tmp_path)
    attempt = tmp_path / "ns/t/1"
    assert (attempt / "plots/learning_curves.png").is_file()
    assert {"network.json", "state_dict.pt", "preprocessor.joblib"} <= {
        p.name for p in (attempt / "model").iterdir()
    }
    model = load_model(attempt / "model")
    from kubetrain_trainer.data.load import DataSource, load

    rows = load(DataSource(dataset="iris")).train.drop(columns=["target"])
    assert (model.predict(rows) == load(DataSource(dataset="iris")).train["target"]).mean() > 0.8
    assert result.evaluation.test["accuracy"] >= 0.85


def test_kubetrain_run_with_output_dir_prints_the_summary(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubetrain.cli import app

    path = tmp_path / "iris.yaml"
    path.write_text(yaml.safe_dump(manifest(IRIS_FOREST, name="iris-cli")))
    outcome = CliRunner().invoke(app, ["run", str(path), "--output", str(tmp_path / "o"), "-q"])
    assert outcome.exit_code == 0, outcome.output
    said = " ".join(outcome.output.split())  # rich wraps long lines
    assert "Verdict: True (ThresholdMet): accuracy = " in said
    assert "threshold >= 0.85: met" in said
    assert str(tmp_path / "o/local/iris-cli/1/report.html") in outcome.output.replace("\n", "")
