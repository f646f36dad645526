"""Bring-your-own code: run the user's command with the job's environment, collect its results.

The command gets the environment `helper` documents (data location, output and checkpoint
location, Ray address, epochs) plus the manifest's own `env`. Its stdout passes through; lines
`{"kubetrain": "metrics", ...}` from `helper.report` become progress, and the last one becomes
the job's metrics, checked against the objective's threshold. SIGTERM is forwarded so that the
script can checkpoint. Afterwards the files it left in KUBETRAIN_OUTPUT_DIR are uploaded with
metrics.json, spec.json, metadata.json and report.html.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubetrain_trainer import artifacts, report
from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.errors import Interrupted, InvalidSpecError, TrainerError
from kubetrain_trainer.evaluate import Evaluation, check_objective
from kubetrain_trainer.progress import ProgressReporter
from kubetrain_trainer.storage import S3Storage, Storage
from kubetrain_trainer.workflow import JobResult, RunContext


def _storage_env(storage: Storage) -> dict[str, str]:
    if isinstance(storage, S3Storage):
        s = storage.settings
        env = {"KUBETRAIN_S3_ENDPOINT": s.endpoint or "", "AWS_REGION": s.region}
        if s.access_key:
            env.update(
                {"AWS_ACCESS_KEY_ID": s.access_key, "AWS_SECRET_ACCESS_KEY": s.secret_key or ""}
            )
        return env
    return {}


def command_env(config: JobConfig, context: RunContext, workdir: Path) -> dict[str, str]:
    attempt = context.attempt_storage
    env = {
        "KUBETRAIN_TASK": config.task,
        "KUBETRAIN_TARGET": config.preparation.target,
        "KUBETRAIN_OBJECTIVE_METRIC": config.objective.metric,
        "KUBETRAIN_DATASET": config.data.dataset or "",
        "KUBETRAIN_DATA_URI": config.data.uri or "",
        "KUBETRAIN_OUTPUT_DIR": str(workdir / "output"),
        "KUBETRAIN_ARTIFACT_URI": attempt.uri,
        "KUBETRAIN_CHECKPOINT_URI": attempt.child("checkpoints").uri,
        "KUBETRAIN_JOB_URI": context.job_storage.uri,
        "KUBETRAIN_METRICS_FILE": str(workdir / "metrics.jsonl"),
        "KUBETRAIN_JOB_NAME": context.job,
        "KUBETRAIN_NAMESPACE": context.namespace,
        "KUBETRAIN_ATTEMPT": context.attempt,
        **_storage_env(context.output),
    }
    if config.custom and config.custom.epochs:
        env["KUBETRAIN_EPOCHS"] = str(config.custom.epochs)
    if context.ray_address:
        env["RAY_ADDRESS"] = context.ray_address
    return {k: v for k, v in env.items() if v}


def run(config: JobConfig, context: RunContext) -> JobResult:
    custom = config.custom
    if custom is None or not custom.command:
        raise InvalidSpecError("spec.model.custom.command is empty: the trainer needs a command.")
    started = time.monotonic()
    out = context.attempt_storage
    progress = ProgressReporter(
        out, attempt=context.attempt, min_interval=context.progress_interval,
        echo=context.echo_progress,
    )  # fmt: skip
    progress.update("training", force=True)
    last: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kubetrain-custom-") as tmp:
        workdir = Path(tmp)
        (workdir / "output").mkdir()
        env = {**os.environ, **custom.env, **command_env(config, context, workdir)}
        command = list(custom.command)
        if command[0] in ("python", "python3"):
            # The trainer's own interpreter: the one that has kubetrain_trainer and its libraries
            # (in the image they are the same; on a laptop `python` may be another one).
            command[0] = sys.executable
        try:
            child = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, bufsize=1,
            )  # fmt: skip
        except OSError as exc:
            raise InvalidSpecError(
                f"cannot start the custom command {custom.command[0]!r}: {exc.strerror}."
            ) from exc
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
        stderr_tail: list[str] = []
        try:
            import threading

            def drain() -> None:
                assert child.stderr is not None
                for line in child.stderr:
                    sys.stderr.write(line)
                    stderr_tail.append(line)
                    del stderr_tail[:-20]

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            assert child.stdout is not None
            for line in child.stdout:
                record = _parse(line)
                if record is None:
                    if context.echo_progress:
                        sys.stdout.write(line)
                    continue
                last = record
                metric = record["metrics"].get(config.objective.metric)
                progress.update(
                    "training", completed=record.get("epoch"), total=record.get("epochs"),
                    unit="epochs", best=(config.objective.metric, metric),
                )  # fmt: skip
            code = child.wait()
            reader.join(timeout=5)
        finally:
            signal.signal(signal.SIGTERM, previous)
        if code == -signal.SIGTERM or (context.stop is not None and context.stop.requested()):
            raise Interrupted("your command stopped on SIGTERM.")
        if code != 0:
            tail = "".join(stderr_tail).strip().splitlines()[-1:] or ["(no output on stderr)"]
            raise TrainerError(f"your command exited with code {code}; its last words: {tail[0]}")
        for path in sorted((workdir / "output").rglob("*")):
            if path.is_file():
                out.upload_file(f"output/{path.relative_to(workdir / 'output')}", path)

    metrics = dict(last.get("metrics", {}))
    evaluation = Evaluation(
        task=config.task,
        test=metrics,
        train={},
        validation=None,
        objective=check_objective(metrics, config.objective),
        warnings=[] if metrics else ["your command reported no metrics (use helper.report)."],
    )
    metadata = {
        "job": context.job,
        "namespace": context.namespace,
        "attempt": context.attempt,
        "command": custom.command,
        "libraries": artifacts.library_versions(),
        "durations": {"total": round(time.monotonic() - started, 3)},
    }
    files = [
        artifacts.write_json(out, "metrics.json", evaluation.to_json()),
        artifacts.write_json(out, "spec.json", config.spec),
        artifacts.write_json(out, "metadata.json", metadata),
    ]
    page = report.html_report(
        title=f"{context.namespace}/{context.job} attempt {context.attempt}",
        metrics=evaluation.to_json(), metadata=metadata, spec=config.spec, plots={},
    )  # fmt: skip
    out.write_bytes("report.html", page)
    files.append("report.html")
    progress.update("done", force=True, best=(config.objective.metric, evaluation.objective.value))
    return JobResult(evaluation, out.uri, f"{out.uri}/report.html", metadata, files)


def _parse(line: str) -> dict[str, Any] | None:
    if not line.startswith('{"kubetrain": "metrics"'):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record.get("metrics"), dict) else None
