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
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubetrain.api.contract import ENV_PREFIX, METRICS_LINE_PREFIX, Env, Files
from kubetrain_trainer.artifacts import files as artifacts
from kubetrain_trainer.artifacts import report
from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.errors import Interrupted, InvalidSpecError, UserCodeError
from kubetrain_trainer.evaluation.metrics import Evaluation, check_objective
from kubetrain_trainer.result import JobResult
from kubetrain_trainer.runtime.context import RunContext
from kubetrain_trainer.runtime.progress import ProgressReporter
from kubetrain_trainer.runtime.storage import S3Storage, Storage


def _storage_env(storage: Storage) -> dict[str, str]:
    if isinstance(storage, S3Storage):
        s = storage.settings
        env = {Env.S3_ENDPOINT: s.endpoint or "", Env.AWS_REGION: s.region}
        if s.access_key:
            env.update(
                {Env.AWS_ACCESS_KEY_ID: s.access_key, Env.AWS_SECRET_ACCESS_KEY: s.secret_key or ""}
            )
        return env
    return {}


def command_env(config: JobConfig, context: RunContext, workdir: Path) -> dict[str, str]:
    attempt = context.attempt_storage
    env = {
        Env.TASK: config.task,
        Env.TARGET: config.preparation.target,
        Env.OBJECTIVE_METRIC: config.objective.metric,
        Env.DATASET: config.data.dataset or "",
        Env.DATA_URI: config.data.uri or "",
        Env.OUTPUT_DIR: str(workdir / Files.OUTPUT),
        Env.ARTIFACT_URI: attempt.uri,
        Env.CHECKPOINT_URI: attempt.child(Files.CHECKPOINTS).uri,
        Env.JOB_URI: context.job_storage.uri,
        Env.METRICS_FILE: str(workdir / "reports.jsonl"),
        Env.JOB_NAME: context.job,
        Env.NAMESPACE: context.namespace,
        Env.ATTEMPT: context.attempt,
        **_storage_env(context.output),
    }
    if config.custom and config.custom.epochs:
        env[Env.EPOCHS] = str(config.custom.epochs)
    env = {k: v for k, v in env.items() if v}
    if context.ray_address:
        env[Env.RAY_ADDRESS] = context.ray_address
        env[Env.RAY_JOB_CONFIG] = _ray_job_config(env, config)
    return env


LOCAL_TO_THE_DRIVER = (Env.OUTPUT_DIR, Env.METRICS_FILE)
"""Paths on the driver's pod: Ray tasks elsewhere report on stdout and write no output dir."""


def _ray_job_config(env: dict[str, str], config: JobConfig) -> str:
    """The job's environment for the user's Ray tasks and actors on every pod of the cluster.

    Credentials stay out (Ray keeps the runtime env in its GCS): every pod already has them
    from the job's Secret.
    """
    shared = {
        k: v for k, v in env.items() if k.startswith(ENV_PREFIX) and k not in LOCAL_TO_THE_DRIVER
    }
    shared.update(config.custom.env if config.custom else {})
    return json.dumps({"runtime_env": {"env_vars": shared}})


STDERR_LINES = 5
"""How many of the command's last stderr lines a failure message quotes."""


@dataclass
class _Outcome:
    code: int
    last: dict[str, Any] = field(default_factory=dict)
    stderr_tail: list[str] = field(default_factory=list)


def _command(config: JobConfig) -> list[str]:
    custom = config.custom
    if custom is None or not custom.command:
        raise InvalidSpecError("spec.model.custom.command is empty: the trainer needs a command.")
    command = list(custom.command)
    if command[0] in ("python", "python3"):
        # The trainer's own interpreter: the one that has kubetrain_trainer and its libraries
        # (in the image they are the same; on a laptop `python` may be another one).
        command[0] = sys.executable
    return command


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
    except OSError as exc:
        raise InvalidSpecError(
            f"cannot start the custom command {command[0]!r}: {exc.strerror}."
        ) from exc


def _drain_stderr(child: subprocess.Popen[str], tail: list[str]) -> threading.Thread:
    def drain() -> None:
        for line in child.stderr or ():
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
            del tail[:-STDERR_LINES]

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return reader


def _follow(
    child: subprocess.Popen[str], config: JobConfig, progress: ProgressReporter, echo: bool
) -> _Outcome:
    """Pass stdout through, turn metric records into progress, wait for the exit code."""
    outcome = _Outcome(code=0)
    reader = _drain_stderr(child, outcome.stderr_tail)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        for line in child.stdout or ():
            record = parse_metrics_line(line)
            if record is None:
                if echo:
                    sys.stdout.write(line)
                continue
            outcome.last = record
            metric = record["metrics"].get(config.objective.metric)
            progress.update(
                "training", completed=record.get("epoch"), total=record.get("epochs"),
                unit="epochs", best=(config.objective.metric, metric),
            )  # fmt: skip
        outcome.code = child.wait()
        reader.join(timeout=5)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return outcome


def _check_exit(outcome: _Outcome, context: RunContext) -> None:
    if outcome.code == -signal.SIGTERM or (context.stop is not None and context.stop.requested()):
        raise Interrupted("your command stopped on SIGTERM.")
    if outcome.code != 0:
        tail = "\n".join(outcome.stderr_tail).strip() or "(nothing on stderr)"
        raise UserCodeError(
            f"your command exited with code {outcome.code}; its last lines on stderr:\n{tail}"
        )


def _upload_output(out: Storage, directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            out.upload_file(f"{Files.OUTPUT}/{path.relative_to(directory)}", path)


def run(config: JobConfig, context: RunContext) -> JobResult:
    """Run the user's command as one attempt; its last reported metrics are the result."""
    command = _command(config)
    started = time.monotonic()
    out = context.attempt_storage
    progress = ProgressReporter(
        out, attempt=context.attempt, min_interval=context.progress_interval,
        echo=context.echo_progress,
    )  # fmt: skip
    progress.update("training", force=True)
    with tempfile.TemporaryDirectory(prefix="kubetrain-custom-") as tmp:
        workdir = Path(tmp)
        (workdir / Files.OUTPUT).mkdir()
        extra = config.custom.env if config.custom else {}
        env = {**os.environ, **extra, **command_env(config, context, workdir)}
        outcome = _follow(_start(command, env), config, progress, context.echo_progress)
        _check_exit(outcome, context)
        _upload_output(out, workdir / Files.OUTPUT)
    evaluation = _evaluation(config, dict(outcome.last.get("metrics", {})))
    metadata = {
        "job": context.job,
        "namespace": context.namespace,
        "attempt": context.attempt,
        "command": command,
        "libraries": artifacts.library_versions(),
        "durations": {"total": round(time.monotonic() - started, 3)},
    }
    files = artifacts.write_results(out, evaluation, config.spec, metadata)
    page = report.html_report(
        title=f"{context.namespace}/{context.job} attempt {context.attempt}",
        metrics=evaluation.to_json(), metadata=metadata, spec=config.spec, plots={},
    )  # fmt: skip
    out.write_bytes(Files.REPORT, page)
    files.append(Files.REPORT)
    progress.update("done", force=True, best=(config.objective.metric, evaluation.objective.value))
    return JobResult(evaluation, out.uri, f"{out.uri}/{Files.REPORT}", metadata, files)


def _evaluation(config: JobConfig, metrics: dict[str, Any]) -> Evaluation:
    warnings = [] if metrics else ["your command reported no metrics (use helper.report)."]
    if metrics and config.objective.metric not in metrics:
        warnings.append(
            f"your command reported no {config.objective.metric!r} "
            f"(the objective); it reported {sorted(metrics)}."
        )
    return Evaluation(
        task=config.task,
        test=metrics,
        train={},
        validation=None,
        objective=check_objective(metrics, config.objective),
        warnings=warnings,
    )


def parse_metrics_line(line: str) -> dict[str, Any] | None:
    """A `helper.report` record from a line of the command's stdout, or None.

    The record may follow a prefix: Ray forwards a worker's stdout to the driver as
    "(RayTrainWorker pid=...) {...}".
    """
    at = line.find(METRICS_LINE_PREFIX)
    if at < 0:
        return None
    try:
        record = json.loads(line[at:])
    except ValueError:
        return None
    return record if isinstance(record.get("metrics"), dict) else None
