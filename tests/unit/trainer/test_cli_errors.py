"""Bad input to `kubetrain run` ends with one paragraph naming the problem, never a traceback.

The cases that need data in S3 (empty or unreadable objects, a non-numeric target, a denied
bucket) run against the dev cluster's SeaweedFS in tests/integration/test_trainer_s3.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.manifests import IRIS_FOREST, manifest
from typer.testing import CliRunner

from kubetrain.cli import app


def _run(tmp_path: Path, document: object) -> tuple[int, str]:
    path = tmp_path / "job.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    outcome = CliRunner().invoke(app, ["run", str(path), "--output", str(tmp_path / "o"), "-q"])
    return outcome.exit_code, outcome.output


def _with(**changes: object) -> dict[str, Any]:
    spec = yaml.safe_load(yaml.safe_dump(IRIS_FOREST))
    for dotted, value in changes.items():
        node = spec
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return manifest(spec)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("kind: [unclosed", "not valid YAML"),
        ({"kind": "Pod"}, "is not a TrainingJob"),
        (_with(problem__target="species"),
         "spec.problem.target: dataset iris's target column is 'target'"),
        (_with(problem__task="regression"), "spec.problem.objective.metric: does not fit the task"),
        (_with(model={"builtin": {"name": "random-forest", "hyperparameters": {"trees": 3}}}),
         "trees"),
        (_with(problem__objective={"metric": "rmse"}), "spec.problem.objective.metric"),
    ],
)  # fmt: skip
def test_invalid_manifest_is_one_clear_paragraph(
    tmp_path: Path, document: str | dict[str, Any], expected: str
) -> None:
    code, output = _run(tmp_path, document)
    assert code == 2
    assert output.startswith("Error: ")
    assert expected in output.replace("\n", " ")
    assert "Traceback" not in output


def test_missing_manifest_file(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(app, ["run", str(tmp_path / "nope.yaml"), "-o", str(tmp_path)])
    assert outcome.exit_code == 2
    assert "cannot read the manifest" in outcome.output
