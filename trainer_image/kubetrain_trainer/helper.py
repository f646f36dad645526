"""The small API your own training code uses inside a kubetrain job (bring-your-own code).

    from kubetrain_trainer import helper

    frame = helper.load_data()                    # the job's data as a pandas DataFrame
    start = helper.latest_checkpoint(workdir)     # resume: a local copy of your last checkpoint
    for epoch in range(start_epoch, helper.epochs(10) + 1):
        ...
        helper.report({"accuracy": acc, "loss": loss}, epoch=epoch)
        helper.save_checkpoint(some_dir, step=epoch)
    joblib.dump(model, helper.output_dir() / "model.joblib")   # uploaded with the artifacts

Everything goes through environment variables the operator (or `kubetrain run`) sets, so the
same script runs in a pod and on a laptop:

    KUBETRAIN_DATA_URI        s3://... of the training data (unset for a built-in dataset)
    KUBETRAIN_DATASET         the built-in dataset's name (unset for S3 data)
    KUBETRAIN_TASK, KUBETRAIN_TARGET, KUBETRAIN_OBJECTIVE_METRIC
    KUBETRAIN_EPOCHS          spec.model.training.epochs, when declared
    KUBETRAIN_OUTPUT_DIR      a local directory uploaded to the attempt's artifacts at the end
    KUBETRAIN_ARTIFACT_URI    where the artifacts end up (<output>/<namespace>/<job>/<attempt>)
    KUBETRAIN_CHECKPOINT_URI  where checkpoints go (<attempt>/checkpoints)
    KUBETRAIN_JOB_URI         the job's prefix, to find earlier attempts' checkpoints
    KUBETRAIN_METRICS_FILE    where `report` appends its JSON lines
    RAY_ADDRESS               the job's Ray cluster, when it has one
    AWS_* / KUBETRAIN_S3_ENDPOINT  S3 credentials and endpoint

`report` also prints one line `{"kubetrain": "metrics", ...}` on stdout; the trainer turns those
into progress and, from the last one, the job's metrics and verdict. On SIGTERM your process is
asked to stop: write a checkpoint and exit (Python's default SIGTERM handling exits at once).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from kubetrain.api.contract import Env


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def target() -> str:
    """The column to predict (spec.problem.target)."""
    return _env(Env.TARGET) or "target"


def task() -> str:
    """The task (spec.problem.task): classification, regression, forecasting, ..."""
    return _env(Env.TASK) or "classification"


def epochs(default: int) -> int:
    value = _env(Env.EPOCHS)
    return int(value) if value else default


def output_dir() -> Path:
    path = Path(_env(Env.OUTPUT_DIR) or "kubetrain-output")
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_data() -> Any:
    """The job's training data as a pandas DataFrame (built-in dataset or S3 object)."""
    from kubetrain_trainer.config import data_s3_settings
    from kubetrain_trainer.data.load import DataSource, load

    source = DataSource(dataset=_env(Env.DATASET), uri=_env(Env.DATA_URI))
    if source.dataset is None and source.uri is None:
        raise RuntimeError(
            f"kubetrain: neither {Env.DATASET} nor {Env.DATA_URI} is set: run this script as a "
            "TrainingJob (kubectl apply, or `kubetrain run job.yaml`), whose spec.data says "
            "what to load."
        )
    return load(source, data_s3_settings(None) if source.uri else None).train


def report(
    metrics: dict[str, float], *, epoch: int | None = None, total: int | None = None
) -> None:
    """Report metrics (and how far training is). The last report is the job's result."""
    record: dict[str, Any] = {"kubetrain": "metrics", "metrics": metrics, "time": time.time()}
    # A Ray worker's stdout reaches the driver with a prefix; the trainer finds the record.
    if epoch is not None:
        record["epoch"] = epoch
        record["epochs"] = total or (int(_env(Env.EPOCHS) or 0) or None)
    line = json.dumps(record)
    print(line, flush=True)
    path = _env(Env.METRICS_FILE)
    if path and Path(path).parent.is_dir():  # on the driver's pod; elsewhere stdout reaches it
        with open(path, "a") as fh:
            fh.write(line + "\n")


def _storage(uri_var: str) -> Any:
    from kubetrain_trainer.runtime.storage import open_storage

    uri = _env(uri_var)
    return open_storage(uri) if uri else None


def save_checkpoint(path: str | Path, step: int) -> str | None:
    """Upload a file or a directory as checkpoint `step`; returns where it went."""
    storage = _storage(Env.CHECKPOINT_URI)
    if storage is None:
        return None
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    prefix = f"step-{step:06d}"
    for file in files:
        name = file.name if path.is_file() else str(file.relative_to(path))
        storage.upload_file(f"{prefix}/{name}", file)
    storage.write_bytes("latest.json", json.dumps({"step": step, "prefix": prefix}).encode())
    return f"{storage.uri}/{prefix}"


def latest_checkpoint(dest: str | Path | None = None) -> tuple[int, Path] | None:
    """(step, local directory) of the newest checkpoint of any attempt of this job, or None."""
    job = _storage(Env.JOB_URI)
    if job is None:
        return None
    pointers = [n for n in job.list("") if n.endswith("/checkpoints/latest.json")]
    best: tuple[int, str] | None = None
    for name in pointers:
        info = json.loads(job.read_bytes(name))
        if best is None or info["step"] >= best[0]:
            best = (int(info["step"]), name.rsplit("/", 1)[0] + "/" + info["prefix"])
    if best is None:
        return None
    target = Path(dest or tempfile.mkdtemp(prefix="kubetrain-resume-"))
    for name in job.list(best[1] + "/"):
        local = target / name[len(best[1]) + 1 :]
        local.parent.mkdir(parents=True, exist_ok=True)
        job.download_file(name, local)
    return best[0], target


__all__ = [
    "epochs",
    "latest_checkpoint",
    "load_data",
    "output_dir",
    "report",
    "save_checkpoint",
    "target",
    "task",
]
