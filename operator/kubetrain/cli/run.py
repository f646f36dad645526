"""`kubetrain run FILE.yaml`: run a TrainingJob manifest on this machine, without a cluster.

`data.source.uri` (and the validation/test URIs) may be a local CSV or Parquet file or a
directory of them, relative to the manifest: this command reads it where it lies.

The same trainer as in the pods (`kubetrain_trainer.workflow`), with a local Ray and artifacts
in the user's local SeaweedFS (`kubetrain.dev.runstore`: the first run starts it in the
background while the trainer is imported and leaves it running for the next runs, `kubetrain
store stop` stops it; data under ~/.local/state/kubetrain/run/), or in a plain directory with
`--output DIR`. While it trains, a
progress bar follows `progress.json` — the same file the operator reads — and at the end a
table shows the metrics and where the report is.

Bad input ends with one paragraph that names the problem and a non-zero exit code (2: invalid
manifest or data, 3: S3 denied access, 1: anything else); never a bare traceback.
Heavy imports (torch, ray, the trainer) happen inside the command so `kubetrain --help` is fast.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import typer

from kubetrain.api.contract import Env, Files
from kubetrain.reports import report_from
from kubetrain.state import verdict


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


class _Timeline:
    """Where a run's wall time went, from the process's start (`--timings FILE`)."""

    def __init__(self) -> None:
        from kubetrain.dev.processes import process_start_time

        ticks = process_start_time(os.getpid()) or 0
        self.last = ticks / os.sysconf("SC_CLK_TCK")
        self.phases: dict[str, float] = {}
        self.mark("startup")

    def mark(self, phase: str) -> None:
        now = time.clock_gettime(time.CLOCK_BOOTTIME)
        self.phases[phase] = round(self.phases.get(phase, 0) + now - self.last, 3)
        self.last = now

    def write(self, path: Path, **extra: Any) -> None:
        total = round(sum(self.phases.values()), 3)
        path.write_text(json.dumps({"wall": total, "phases": self.phases, **extra}, indent=2))


def _store_line(store: Any, endpoint: Any, started: bool) -> str:
    how = "started for this run and left running" if started else "reused"
    return (
        f"S3 store:  {endpoint.endpoint} (SeaweedFS, {how}; data in {store.data_dir}, "
        f"credentials in {store.credentials_file}); `kubetrain store stop` stops it."
    )


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


def _start_store(timeline: _Timeline) -> tuple[Any, Any, bool]:
    """The user's run store: reused if it runs, else started in the background."""
    from kubetrain.dev.runstore import RunStore
    from kubetrain_trainer.errors import TrainerError

    store = RunStore.default()
    try:
        endpoint, started = store.launch()
    except Exception as exc:
        raise TrainerError(_store_failed(exc)) from exc
    timeline.mark("store start")
    return store, endpoint, started


def _store_failed(exc: Exception) -> str:
    return (
        f"could not start the local S3 store (SeaweedFS): {str(exc).splitlines()[0]} "
        "Run with --output DIR to write the artifacts to a directory instead, or "
        "`kubetrain store stop` and try again."
    )


def _open(store: Any) -> Any:
    """The run store's bucket as trainer storage, once the store answers."""
    from kubetrain_trainer.errors import TrainerError
    from kubetrain_trainer.runtime.storage import S3Settings, open_storage

    run_store, endpoint, started = store
    try:
        run_store.wait(endpoint, started)
    except Exception as exc:
        raise TrainerError(_store_failed(exc)) from exc
    settings = S3Settings(endpoint.endpoint, endpoint.access_key, endpoint.secret_key)
    return open_storage(f"s3://{endpoint.bucket}", settings)


def run(
    manifest: Path = typer.Argument(..., help="TrainingJob manifest (YAML)"),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write artifacts to this directory instead of a local S3."
    ),
    attempt: str = typer.Option(
        "1", help="Attempt number; a later attempt resumes from the latest checkpoint."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    timings: Path | None = typer.Option(
        None, "--timings", hidden=True, help="Write where the wall time went to this JSON file."
    ),
) -> None:
    """Run a TrainingJob locally: local Ray, artifacts to a local S3 (or --output DIR).

    The local S3 store (SeaweedFS) is started by the first run and kept for the next ones;
    `kubetrain store stop` stops it."""
    from kubetrain.dev.runstore import state_root

    timeline = _Timeline()
    from kubetrain_trainer.errors import TrainerError

    exported: dict[str, str | None] = {}
    try:
        # The store starts in the background while the trainer is imported.
        store = _start_store(timeline) if output is None else None
        from kubetrain_trainer.config import from_spec
        from kubetrain_trainer.runtime.checkpoint import StopSignal
        from kubetrain_trainer.runtime.storage import LocalStorage
        from kubetrain_trainer.workflow import RunContext
        from kubetrain_trainer.workflow import run as run_job

        if store is not None and store[2]:
            import sklearn.base  # noqa: F401  (the data stage's import, while the store starts)
        timeline.mark("imports")
        job = _check(_local_data(_read_manifest(manifest), manifest.resolve().parent))
        config = from_spec(job.spec)
        timeline.mark("manifest")
        root: Any = LocalStorage(output.resolve()) if output is not None else _open(store)
        if store is not None:
            # In the environment, as in the operator's pods: Ray's processes read them there.
            exported = _export_credentials(store[1].access_key, store[1].secret_key)
        timeline.mark("store wait")
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
        timeline.mark("workflow")
        report_path = result.report_uri
        if store is not None:
            local = state_root() / "reports" / context.namespace / context.job / attempt
            local.mkdir(parents=True, exist_ok=True)
            context.attempt_storage.download_file(Files.REPORT, local / Files.REPORT)
            report_path = f"{local / Files.REPORT} (copied from {result.report_uri})"
        _summary(result, report_path)
        if store is not None:
            typer.echo(_store_line(*store))
        timeline.mark("summary")
        if timings is not None:
            stages = result.metadata.get("durations", {})
            timeline.write(timings, stages=stages, store=_store_state(store))
    except TrainerError as exc:
        raise _fail(exc.message, int(exc.exit_code)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted.", 130) from None
    except typer.Exit:
        raise
    except Exception as exc:  # keep users away from tracebacks; the log has the details
        import traceback

        log = state_root() / "last-error.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        raise _fail(
            f"internal error: {type(exc).__name__}: {exc} (traceback in {log}).", 1
        ) from None
    finally:
        _restore_env(exported)


def _store_state(store: Any) -> str:
    return "none (--output)" if store is None else "started" if store[2] else "reused"
