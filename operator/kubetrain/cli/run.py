"""`kubetrain run FILE.yaml`: run a TrainingJob manifest on this machine, without a cluster.

`data.source.uri` (and the validation/test URIs) may be a local CSV or Parquet file or a
directory of them, relative to the manifest: this command reads it where it lies.

The same trainer as in the pods (`kubetrain_trainer.workflow`), with a local Ray and artifacts
in a SeaweedFS that this command starts and stops itself (data kept under
~/.local/state/kubetrain/run/), or in a plain directory with `--output DIR`. While it trains, a
progress bar follows `progress.json` — the same file the operator reads — and at the end a
table shows the metrics and where the report is.

Bad input ends with one paragraph that names the problem and a non-zero exit code (2: invalid
manifest or data, 3: S3 denied access, 1: anything else); never a bare traceback.
Heavy imports (torch, ray, the trainer) happen inside the command so `kubetrain --help` is fast.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import typer

from kubetrain.api.contract import Env, Files
from kubetrain.reports import report_from
from kubetrain.state import verdict

RUN_STATE = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "kubetrain"
RUN_BUCKET = "kubetrain-run"


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def _read_manifest(path: Path) -> dict[str, Any]:
    import yaml

    from kubetrain.api import API_VERSION, KIND
    from kubetrain_trainer.errors import InvalidSpecError

    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidSpecError(f"cannot read the manifest {path}: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise InvalidSpecError(f"the manifest {path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise InvalidSpecError(
            f"the manifest {path} is not a {KIND} (kind: {KIND}, apiVersion: {API_VERSION})."
        )
    return document


_DATA_URIS = ("uri", "validationUri", "testUri")


def _local_data(document: dict[str, Any], base: Path) -> dict[str, Any]:
    """Local paths in spec.data.source made absolute (relative ones are to the manifest's
    directory), checked to exist; a directory's format is taken from its files when unset."""
    from kubetrain_trainer.errors import InvalidSpecError

    spec = document.get("spec")
    source = spec.get("data", {}).get("source") if isinstance(spec, dict) else None
    if not isinstance(source, dict):
        return document
    for key in _DATA_URIS:
        value = source.get(key)
        if not isinstance(value, str) or value.startswith("s3://") or ":" in value:
            continue
        path = (base / Path(value).expanduser()).resolve()
        if not path.exists():
            raise InvalidSpecError(f"spec.data.source.{key}: {path} does not exist.")
        source[key] = str(path)
        if key == "uri" and path.is_dir() and "format" not in source:
            suffixes = {p.suffix for p in path.rglob("*") if p.is_file() and p.name[0] not in "._"}
            if suffixes <= {".parquet"} and suffixes:
                source["format"] = "parquet"
            elif suffixes <= {".csv"} and suffixes:
                source["format"] = "csv"
    return document


def _check(document: dict[str, Any]) -> Any:
    """Schema and semantic checks, minus those about the cluster's compute profiles; local
    data paths are accepted here (and only here)."""
    from kubetrain.api import check_training_job, invalid_spec_message
    from kubetrain.api.data import local_data_allowed
    from kubetrain_trainer.errors import InvalidSpecError

    with local_data_allowed():
        job, errors = check_training_job(document, profiles={})
    errors = [e for e in errors if not e.path.startswith("spec.compute.profile")]
    if errors or job is None:
        raise InvalidSpecError(f"invalid TrainingJob manifest: {invalid_spec_message(errors)}.")
    if not job.metadata.name:
        raise InvalidSpecError("invalid TrainingJob manifest: metadata.name is required.")
    return job


class _LocalS3:
    """A private SeaweedFS for this command, via the dev cluster's S3 module."""

    def __init__(self) -> None:
        self.root = RUN_STATE / "run"
        self.sup: Any = None

    def start(self) -> Any:
        import random
        import socket

        from kubetrain.dev import binaries, s3
        from kubetrain.dev.processes import Supervisor

        def free(port: int) -> bool:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    return False
                return True

        def free_port(taken: set[int]) -> int:
            # SeaweedFS serves gRPC on every HTTP port + GRPC_OFFSET: both must be free and valid.
            while True:
                port = random.randrange(20000, 65535 - s3.GRPC_OFFSET)
                if port not in taken and free(port) and free(port + s3.GRPC_OFFSET):
                    taken.add(port)
                    return port

        self.sup = Supervisor(self.root / "pids", self.root / "logs")
        (self.root / "pids").mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        taken: set[int] = set()
        ports = s3.S3Ports(*(free_port(taken) for _ in range(4)))
        return s3.start(
            self.sup,
            binaries.weed(),
            self.root / "seaweedfs",
            self.root / "identities.json",
            ports,
            RUN_BUCKET,
            component="kubetrain-run-seaweedfs",
        )

    def stop(self) -> None:
        if self.sup is not None:
            from kubetrain.dev import s3

            s3.stop(self.sup, component="kubetrain-run-seaweedfs")


def _follow(storage: Any, done: threading.Event, quiet: bool) -> None:
    """Draw the progress bar from progress.json until `done` is set."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kubetrain_trainer.runtime.progress import read_progress

    columns = (
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True, disable=quiet) as bar:
        task = bar.add_task("starting", total=None, best="")
        while not done.wait(0.3):
            state = read_progress(storage)
            if not state:
                continue
            best = state.get("bestMetric") or {}
            bar.update(
                task,
                description=str(state.get("stage", "")),
                total=state.get("total"),
                completed=state.get("completed", 0),
                best=f"best {best['name']} {best['value']:.4g}" if best else "",
            )


def _summary(result: Any, report_path: str) -> None:
    from rich.console import Console
    from rich.table import Table

    evaluation = result.evaluation
    console = Console()
    table = Table(title="Metrics", show_lines=False)
    splits = [("train", evaluation.train), ("validation", evaluation.validation)]
    splits.append(("test", evaluation.test))
    splits = [(name, m) for name, m in splits if m]
    cv = evaluation.cross_validation
    table.add_column("metric")
    for name, _ in splits:
        table.add_column(name, justify="right")
    if cv:
        table.add_column("cross-validation", justify="right")
    names = [
        n
        for n in (evaluation.test or evaluation.validation or evaluation.train)
        if n != "confusion_matrix"
    ]
    for metric in names:
        row = [metric] + [_fmt(m.get(metric)) for _, m in splits]
        if cv:
            row.append(
                f"{cv[metric]['mean']:.4g} ± {cv[metric]['std']:.2g}" if metric in cv else ""
            )
        table.add_row(*row)
    console.print(table)
    data = result.metadata.get("data") or {}
    if data:
        from kubetrain_trainer.data.quality import dropped_sentence

        rows = ", ".join(f"{k} {v}" for k, v in (data.get("rows") or {}).items())
        dropped = dropped_sentence(data.get("rowsDropped") or {})
        console.print(f"Data:      {data.get('description')}; {dropped}; used {rows}")
    if evaluation.baselines:
        b = evaluation.baselines
        seasonal = (b.get("seasonalNaive") or {}).get("mae")
        console.print(
            f"Baselines: {b['split']} MAE model {_fmt(b['model']['mae'])}, naive "
            f"{_fmt(b['naive']['mae'])}, seasonal naive {_fmt(seasonal)} (season "
            f"{b['season'] or 'none'}, {b['seasonSource']}); skill vs seasonal naive "
            f"{_fmt(b.get('skillVsSeasonalNaive'))}, MASE {_fmt(b['model']['mase'])}"
        )
    # The operator's rule, so that `kubetrain run` and the cluster give the same verdict.
    result_verdict = verdict(report_from(None, evaluation.to_json(), None, final=True))
    style = {"True": "green", "False": "red"}.get(result_verdict.status, "yellow")
    console.print(
        f"Verdict: [{style}]{result_verdict.status}[/] ({result_verdict.reason}): "
        f"{result_verdict.message}"
    )
    for warning in evaluation.warnings:
        console.print(f"[yellow]Warning:[/] {warning}")
    console.print(f"Artifacts: {result.artifact_uri}")
    console.print(f"Report:    {report_path}")


def _export_credentials(access_key: str, secret_key: str) -> dict[str, str | None]:
    """Puts the local store's credentials in this process's environment; returns what was
    there before, for `_restore_env`."""
    values = {Env.AWS_ACCESS_KEY_ID: access_key, Env.AWS_SECRET_ACCESS_KEY: secret_key}
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    return before


def _restore_env(before: dict[str, str | None]) -> None:
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def run(
    manifest: Path = typer.Argument(..., help="TrainingJob manifest (YAML)"),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write artifacts to this directory instead of a local S3."
    ),
    attempt: str = typer.Option(
        "1", help="Attempt number; a later attempt resumes from the latest checkpoint."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run a TrainingJob locally: local Ray, artifacts to a local S3 (or --output DIR)."""
    from kubetrain_trainer.errors import TrainerError

    local_s3 = None
    exported: dict[str, str | None] = {}
    try:
        from kubetrain_trainer.config import from_spec
        from kubetrain_trainer.runtime.checkpoint import StopSignal
        from kubetrain_trainer.runtime.storage import LocalStorage, S3Settings, open_storage
        from kubetrain_trainer.workflow import RunContext
        from kubetrain_trainer.workflow import run as run_job

        job = _check(_local_data(_read_manifest(manifest), manifest.resolve().parent))
        config = from_spec(job.spec)
        if output is not None:
            root: Any = LocalStorage(output.resolve())
        else:
            local_s3 = _LocalS3()
            try:
                endpoint = local_s3.start()
            except Exception as exc:
                raise TrainerError(
                    f"could not start the local S3 store (SeaweedFS): {str(exc).splitlines()[0]} "
                    "Run with --output DIR to write the artifacts to a directory instead."
                ) from exc
            # In the environment, as in the operator's pods: Ray's processes read them there.
            exported = _export_credentials(endpoint.access_key, endpoint.secret_key)
            settings = S3Settings(endpoint.endpoint, endpoint.access_key, endpoint.secret_key)
            root = open_storage(f"s3://{endpoint.bucket}", settings)
        context = RunContext(
            job=job.metadata.name,
            namespace=job.metadata.namespace or "local",
            attempt=attempt,
            output=root,
            progress_interval=0.5,
            echo_progress=False,
            stop=StopSignal().install(),
        )
        if config.custom is not None:
            from kubetrain_trainer import custom

            runner: Any = custom.run
        else:
            runner = run_job
        done = threading.Event()
        follower = threading.Thread(
            target=_follow, args=(context.attempt_storage, done, quiet), daemon=True
        )
        follower.start()
        try:
            result = runner(config, context)
        finally:
            done.set()
            follower.join(timeout=5)
        report_path = result.report_uri
        if output is None:
            local = RUN_STATE / "run" / "reports" / context.namespace / context.job / attempt
            local.mkdir(parents=True, exist_ok=True)
            context.attempt_storage.download_file(Files.REPORT, local / Files.REPORT)
            report_path = f"{local / Files.REPORT} (copied from {result.report_uri})"
        _summary(result, report_path)
    except TrainerError as exc:
        raise _fail(exc.message, int(exc.exit_code)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted.", 130) from None
    except typer.Exit:
        raise
    except Exception as exc:  # keep users away from tracebacks; the log has the details
        import traceback

        log = RUN_STATE / "run" / "last-error.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        raise _fail(
            f"internal error: {type(exc).__name__}: {exc} (traceback in {log}).", 1
        ) from None
    finally:
        if local_s3 is not None:
            local_s3.stop()
        _restore_env(exported)
