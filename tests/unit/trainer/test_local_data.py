"""`kubetrain run` on the user's own files: a local CSV and a local Parquet directory, relative to
the manifest, recorded (hash, description, rows) as S3 data is; the operator refuses local paths."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.support.manifests import manifest

from kubetrain.api import check_training_job


def _survey(n: int = 300) -> pd.DataFrame:
    """Survey-style rows: few distinct answers, so many rows are legitimately identical."""
    rng = np.random.default_rng(5)
    age_band = rng.integers(1, 5, n)
    smoker = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "respondent": np.arange(n),
            "age_band": age_band,
            "region": rng.choice(["north", "south"], n),
            "smoker": smoker,
            "visits": age_band * 2 + smoker * 3 + rng.integers(0, 2, n),
        }
    )


def _spec(uri: str, **source: str) -> dict[str, Any]:
    return {
        "problem": {"task": "regression", "target": "visits", "objective": {"metric": "mae"}},
        "data": {"source": {"uri": uri, **source}},
        "preparation": {"features": {"exclude": ["respondent"]}},
        "model": {"builtin": {"name": "random-forest", "hyperparameters": {"n_estimators": 20}}},
    }


def _run(tmp_path: Path, spec: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    from typer.testing import CliRunner

    from kubetrain.cli import app

    path = tmp_path / "job" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(manifest(spec, name=name)))
    out = tmp_path / "out"
    outcome = CliRunner().invoke(app, ["run", str(path), "--output", str(out), "-q"])
    assert outcome.exit_code == 0, outcome.output
    metadata: dict[str, Any] = json.loads(
        (out / "local" / name / "1" / "metadata.json").read_text()
    )
    return outcome.output, metadata


def test_kubetrain_run_reads_a_local_csv_relative_to_the_manifest(tmp_path: Path) -> None:
    frame = _survey()
    csv = tmp_path / "job" / "data" / "survey.csv"
    csv.parent.mkdir(parents=True)
    frame.to_csv(csv, index=False)
    duplicates = int(frame.drop(columns="respondent").duplicated().sum())

    output, metadata = _run(tmp_path, _spec("data/survey.csv"), "survey-csv")

    data = metadata["data"]
    assert data["description"] == f"{csv} (300 rows)"
    file_hash = hashlib.sha256(csv.read_bytes()).hexdigest()
    assert data["contentHash"] == hashlib.sha256(f"train:{file_hash}\n".encode()).hexdigest()
    assert data["rowsRead"] == {"train": 300}
    assert sum(data["rows"].values()) == 300  # nothing dropped: duplicates are kept
    assert data["rowsDropped"] == {"missing_target": 0}
    # The respondent column makes rows distinct; without it they repeat, but features decide.
    assert data["quality"]["duplicateRows"] == int(frame.duplicated().sum()) == 0
    assert duplicates > 100
    flat = output.replace("\n", " ")
    assert "no rows removed" in flat and "train 180" in flat


def test_kubetrain_run_reads_a_local_parquet_directory(tmp_path: Path) -> None:
    frame = _survey().drop(columns="respondent")
    folder = tmp_path / "job" / "survey"
    folder.mkdir(parents=True)
    frame.iloc[:150].to_parquet(folder / "part-0.parquet")
    frame.iloc[150:].to_parquet(folder / "part-1.parquet")
    (folder / "_SUCCESS").write_text("")
    spec = _spec("survey")
    spec["preparation"] = {}

    output, metadata = _run(tmp_path, spec, "survey-parquet")

    data = metadata["data"]
    assert data["rowsRead"] == {"train": 300} and sum(data["rows"].values()) == 300
    assert data["quality"]["duplicateRows"] == int(frame.duplicated().sum()) > 100
    assert "duplicate rows; they were kept" in output.replace("\n", " ")
    assert json.loads((tmp_path / "out/local/survey-parquet/1/spec.json").read_text())["data"][
        "source"
    ] == {"uri": str(folder), "format": "parquet"}


def test_a_missing_local_file_names_the_field(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubetrain.cli import app

    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(manifest(_spec("nowhere.csv"), name="nowhere")))
    outcome = CliRunner().invoke(app, ["run", str(path), "--output", str(tmp_path), "-q"])
    assert outcome.exit_code == 2
    assert f"spec.data.source.uri: {tmp_path / 'nowhere.csv'} does not exist" in outcome.output


@pytest.mark.parametrize("field", ["uri", "validationUri", "testUri"])
def test_the_operator_refuses_local_paths_saying_how_to_upload(field: str) -> None:
    spec = _spec("s3://bucket/train.csv")
    spec["data"]["source"][field] = "data/survey.csv"
    job, errors = check_training_job(manifest(spec), profiles={})
    assert job is None
    assert len(errors) == 1 and errors[0].path == f"spec.data.source.{field}"
    assert "only `kubetrain run` reads" in errors[0].message
    assert "aws s3 cp" in errors[0].message
