"""The trainer against the dev cluster's SeaweedFS: data in, artifacts out, and the S3 errors.

Runs the pod entry point (`python -m kubetrain_trainer`) exactly as a pod would — spec file,
KUBETRAIN_* and AWS_* variables — and `kubetrain run` for the bad-input cases users meet.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sklearn import datasets
from tests.support.cluster import DevCluster
from tests.support.examples import path_of
from tests.support.manifests import manifest
from tests.support.trainer import TRAINER_COMMAND, trainer_env
from typer.testing import CliRunner


def _manifest(name: str, uri: str, endpoint: str, task: str = "classification",
              target: str = "target", metric: str = "accuracy") -> dict[str, Any]:  # fmt: skip
    """A TrainingJob reading a CSV from the dev cluster's S3."""
    return manifest({
        "problem": {"task": task, "target": target, "objective": {"metric": metric}},
        "data": {"source": {"uri": uri, "format": "csv"}, "s3": {"endpoint": endpoint}},
        "model": {"builtin": {"name": "random-forest" if task == "classification" else "ridge",
                              "hyperparameters": {"n_estimators": 20}
                              if task == "classification" else {}}},
    }, name)  # fmt: skip


@pytest.fixture
def prefix(dev_cluster: DevCluster) -> str:
    return f"trainer-tests/{uuid.uuid4().hex[:8]}"


def _s3_env(dev_cluster: DevCluster) -> dict[str, str]:
    """The dev cluster's S3 credentials and endpoint, as the pod's env gives them."""
    s3 = dev_cluster.s3
    return {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "KUBETRAIN_S3_ENDPOINT": s3.endpoint,
    }


def test_s3_round_trip_data_in_artifacts_out(
    dev_cluster: DevCluster, prefix: str, tmp_path: Path
) -> None:
    s3 = dev_cluster.s3
    client = s3.client()
    frame = datasets.load_iris(as_frame=True).frame
    client.put_object(Bucket=s3.bucket, Key=f"{prefix}/iris.csv", Body=frame.to_csv(index=False))
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        yaml.safe_dump(_manifest("iris-s3", f"s3://{s3.bucket}/{prefix}/iris.csv", s3.endpoint))
    )
    env = trainer_env(spec_file, f"s3://{s3.bucket}/{prefix}/out", job="iris-s3",
                      namespace="team", attempt=1, **_s3_env(dev_cluster))  # fmt: skip
    proc = subprocess.run(TRAINER_COMMAND, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    attempt = f"{prefix}/out/team/iris-s3/1"
    keys = {
        o["Key"][len(attempt) + 1 :]
        for o in client.list_objects_v2(Bucket=s3.bucket, Prefix=attempt + "/")["Contents"]
    }
    assert {"metrics.json", "spec.json", "metadata.json", "report.html", "progress.json",
            "model/model.joblib", "model/model.json"} <= keys  # fmt: skip
    metrics = json.loads(
        client.get_object(Bucket=s3.bucket, Key=f"{attempt}/metrics.json")["Body"].read()
    )
    assert metrics["test"]["accuracy"] >= 0.9
    metadata = json.loads(
        client.get_object(Bucket=s3.bucket, Key=f"{attempt}/metadata.json")["Body"].read()
    )
    assert metadata["data"]["bytesRead"] == len(frame.to_csv(index=False).encode())

    from kubetrain_trainer.predict import load_model

    local = tmp_path / "model"
    local.mkdir()
    for name in ("model.joblib", "model.json"):
        client.download_file(s3.bucket, f"{attempt}/model/{name}", str(local / name))
    predictions = load_model(local).predict(frame.drop(columns="target"))
    assert (predictions == frame.target).mean() > 0.9


def test_a_retried_attempt_reuses_trials_and_the_fit_stored_in_s3(
    dev_cluster: DevCluster, prefix: str, tmp_path: Path
) -> None:
    """Attempt 2 of a finished tuning job runs no trial and fits nothing: both come from S3."""
    s3 = dev_cluster.s3
    client = s3.client()
    frame = datasets.load_iris(as_frame=True).frame
    client.put_object(Bucket=s3.bucket, Key=f"{prefix}/iris.csv", Body=frame.to_csv(index=False))
    document = _manifest("iris-tune", f"s3://{s3.bucket}/{prefix}/iris.csv", s3.endpoint)
    document["spec"]["model"] = {"builtin": {"name": "knn"}}
    document["spec"]["tuning"] = {
        "algorithm": "grid", "maxTrials": 4, "finalModel": "retrain",
        "searchSpace": {"n_neighbors": {"type": "choice", "values": [1, 5, 9, 15]}},
    }  # fmt: skip
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(document))
    job = f"{prefix}/out/team/iris-tune"

    def attempt(number: int) -> dict[str, Any]:
        env = trainer_env(spec_file, f"s3://{s3.bucket}/{prefix}/out", job="iris-tune",
                          namespace="team", attempt=number, **_s3_env(dev_cluster))  # fmt: skip
        proc = subprocess.run(TRAINER_COMMAND, env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        key = f"{job}/{number}/metadata.json"
        metadata: dict[str, Any] = json.loads(
            client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        )
        return metadata

    first = attempt(1)
    assert first["tuning"]["trials"] == 4 and first["tuning"]["resumedTrials"] == 0
    recorded = client.list_objects_v2(Bucket=s3.bucket, Prefix=f"{job}/tuning/")["Contents"]
    assert len([o for o in recorded if "/trials/" in o["Key"]]) == 4

    second = attempt(2)
    assert second["tuning"]["trials"] == 4 and second["tuning"]["resumedTrials"] == 4
    assert second["tuning"]["bestConfig"] == first["tuning"]["bestConfig"]
    assert second["training"]["resumedFromAttempt"] == "1"


def _cli(
    dev_cluster: DevCluster, tmp_path: Path, document: dict[str, Any], **env: str
) -> tuple[int, str]:
    from kubetrain.cli import app

    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(document))
    outcome = CliRunner().invoke(
        app,
        ["run", str(path), "--output", str(tmp_path / "out"), "-q"],
        env={**_s3_env(dev_cluster), **env},
    )
    return outcome.exit_code, " ".join(outcome.output.split())


def _put(dev_cluster: DevCluster, key: str, body: bytes) -> str:
    s3 = dev_cluster.s3
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=body)
    return f"s3://{s3.bucket}/{key}"


def test_bad_input_gives_one_clear_paragraph(
    dev_cluster: DevCluster, prefix: str, tmp_path: Path
) -> None:
    endpoint = dev_cluster.s3.endpoint
    iris = datasets.load_iris(as_frame=True).frame
    houses = pd.DataFrame({"rooms": [1, 2, 3] * 10, "price": ["cheap", "100", "200"] * 10})
    cases = [
        (_manifest("empty", _put(dev_cluster, f"{prefix}/empty.csv", b""), endpoint),
         2, "is empty (0 bytes)"),
        (_manifest("garbage", _put(dev_cluster, f"{prefix}/garbage.csv", b"\xff\xfe\x00\x81" * 64),
                   endpoint), 2, "cannot be read as csv"),
        (_manifest("no-target", _put(dev_cluster, f"{prefix}/iris.csv",
                                     iris.to_csv(index=False).encode()), endpoint, target="label"),
         2, "target column 'label' is not in the training data"),
        (_manifest("words", _put(dev_cluster, f"{prefix}/houses.csv",
                                 houses.to_csv(index=False).encode()), endpoint,
                   task="regression", target="price", metric="rmse"),
         2, "must be numeric for regression"),
        (_manifest("missing", f"s3://{dev_cluster.s3.bucket}/{prefix}/nope.csv", endpoint),
         2, "does not exist"),
    ]  # fmt: skip
    for document, code, message in cases:
        got_code, output = _cli(dev_cluster, tmp_path, document)
        assert (got_code, message in output) == (code, True), output
        assert output.startswith("Error: ") and "Traceback" not in output


def test_s3_access_denied_is_named(dev_cluster: DevCluster, prefix: str, tmp_path: Path) -> None:
    uri = _put(dev_cluster, f"{prefix}/iris.csv",
               datasets.load_iris(as_frame=True).frame.to_csv(index=False).encode())  # fmt: skip
    document = _manifest("denied", uri, dev_cluster.s3.endpoint)
    code, output = _cli(dev_cluster, tmp_path, document, AWS_SECRET_ACCESS_KEY="wrong-secret")
    assert code == 3, output
    assert "S3 denied" in output and "credentials" in output and "Traceback" not in output


@pytest.fixture(scope="module")
def run_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A state directory of its own for `kubetrain run`'s store; the store stopped after."""
    from kubetrain.cli import app

    with pytest.MonkeyPatch.context() as patch:
        state = tmp_path_factory.mktemp("state")
        patch.setenv("XDG_STATE_HOME", str(state))
        yield state / "kubetrain" / "run"
        stopped = CliRunner().invoke(app, ["store", "stop"])
        assert "Stopped the kubetrain run store" in stopped.output
        assert CliRunner().invoke(app, ["store", "status"]).exit_code == 1


def test_kubetrain_run_starts_its_seaweedfs_and_leaves_it_running(run_state: Path) -> None:
    """The artifacts stay readable at the printed location after the run; the store keeps
    running for the next run, and the output says where it is and how to stop it."""
    from kubetrain.cli import app
    from kubetrain.dev import s3
    from kubetrain.dev.runstore import RunStore

    example = path_of("classification-iris")
    outcome = CliRunner().invoke(app, ["run", str(example), "-q"])
    assert outcome.exit_code == 0, outcome.output
    text = " ".join(outcome.output.split())
    assert "s3://kubetrain-run/local/iris-forest/1" in text
    assert "threshold >= 0.9: met" in text
    endpoint = RunStore.default().running()
    assert endpoint is not None
    started = "(SeaweedFS, started for this run and left running; data in"
    assert f"S3 store: {endpoint.endpoint} {started} {run_state / 'seaweedfs'}" in text
    assert "`kubetrain store stop` stops it" in text
    metrics = s3.client(endpoint).get_object(
        Bucket="kubetrain-run", Key="local/iris-forest/1/metrics.json"
    )
    assert json.loads(metrics["Body"].read())["test"]["accuracy"] >= 0.9
    status = CliRunner().invoke(app, ["store", "status"])
    assert status.exit_code == 0 and endpoint.endpoint in status.output


def test_kubetrain_run_on_a_local_csv_writes_to_its_own_seaweedfs(
    tmp_path: Path, run_state: Path
) -> None:
    """Local data in, artifacts out to the command's S3, the one the previous run left running:
    no cluster, no upload."""
    import pandas as pd
    import yaml
    from sklearn import datasets

    from kubetrain.cli import app
    from kubetrain.dev.runstore import RunStore

    datasets.load_iris(as_frame=True).frame.to_csv(tmp_path / "iris.csv", index=False)
    manifest = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "examples" / "classification-iris.yaml").read_text()
    )
    manifest["metadata"]["name"] = "iris-local"
    manifest["spec"]["data"] = {"source": {"uri": "iris.csv"}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(manifest))
    RunStore.default().launch()  # running already when the test above ran
    outcome = CliRunner().invoke(app, ["run", str(tmp_path / "job.yaml"), "-q"])
    assert outcome.exit_code == 0, outcome.output
    text = " ".join(outcome.output.split())
    assert "s3://kubetrain-run/local/iris-local/1" in text
    assert "(SeaweedFS, reused; " in text
    assert f"Data: {tmp_path / 'iris.csv'} (150 rows); no rows removed" in text
    assert "1 duplicate rows; they were kept" in text
    assert len(pd.read_csv(tmp_path / "iris.csv")) == 150
