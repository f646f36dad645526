"""`kubetrain dev up | down | status | logs`: the local development cluster."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from kubetrain.dev.config import DevConfig

app = typer.Typer(
    help="A real local Kubernetes cluster: control plane, simulated CPU/GPU node pools, "
    "a `local` node whose pods run as processes, and an S3 store.",
    no_args_is_help=True,
)

ConfigOption = typer.Option(
    None, "--config", help="YAML file overriding the defaults (pools, ports, S3 bucket)."
)


def _config(path: Path | None) -> DevConfig:
    from kubetrain.dev import config

    try:
        return config.load(path)
    except config.ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@app.command()
def up(
    config: Path | None = ConfigOption,
    with_kueue: bool = typer.Option(
        False, "--kueue", help="Also run Kueue (as `kueue: {enabled: true}` in the config)."
    ),
) -> None:
    """Start the dev cluster (or keep what already runs) and print how to reach it."""
    from kubetrain.dev import cluster
    from kubetrain.dev.processes import DevClusterError

    cfg = _config(config)
    if with_kueue:
        cfg = cfg.model_copy(update={"kueue": cfg.kueue.model_copy(update={"enabled": True})})
    try:
        info = cluster.up(cfg, progress=lambda msg: typer.echo(f"  {msg}", err=True))
    except DevClusterError as exc:
        raise _fail(exc) from exc
    typer.echo(f"kubeconfig:  {info.kubeconfig}")
    typer.echo(f"api server:  {info.apiserver}")
    typer.echo(f"S3:          {info.s3.endpoint}  bucket {info.s3.bucket}")
    typer.echo(
        f"S3 secret:   {info.s3.secret_name} in {', '.join(info.s3.secret_namespaces)} "
        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL)"
    )
    typer.echo(f"\nexport KUBECONFIG={info.kubeconfig}")


@app.command()
def down(config: Path | None = ConfigOption) -> None:
    """Stop every process the dev cluster started. Its state (etcd, S3 data) is kept."""
    from kubetrain.dev import cluster

    stopped = cluster.down(_config(config), progress=lambda msg: typer.echo(f"  {msg}", err=True))
    typer.echo("stopped " + (", ".join(stopped) if stopped else "nothing: nothing was running"))


@app.command()
def status(
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show what runs, the kubeconfig path, and the S3 endpoint, bucket and Secret."""
    from kubetrain.dev import cluster

    report = cluster.status(_config(config))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("component", "state", "pid", "log")
        for name, c in report["components"].items():
            state = "[green]running[/]" if c["running"] else "[red]stopped[/]"
            table.add_row(name, state, str(c["pid"] or "-"), c["log"])
        console = Console()
        console.print(table)
        console.print(f"kubeconfig: {report['kubeconfig']}")
        console.print(f"api server: {report['apiserver']}")
        s3 = report["s3"]
        secret = s3["credentialsSecret"]
        console.print(
            f"S3: {s3['endpoint']} bucket {s3['bucket']}; credentials Secret "
            f"{secret['name']} in {', '.join(secret['namespaces'])}"
        )
    if not report["running"]:
        raise typer.Exit(1)


@app.command()
def logs(
    pod: str = typer.Argument(..., help="Pod name (a pod on the `local` node)."),
    namespace: str = typer.Option("default", "-n", "--namespace"),
    container: str | None = typer.Option(None, "-c", "--container"),
    follow: bool = typer.Option(False, "-f", "--follow", help="Stream until the container exits."),
    previous: bool = typer.Option(False, "-p", "--previous", help="The previous run's log."),
    config: Path | None = ConfigOption,
) -> None:
    """Show a local-node pod's container log (kept on disk by the local node)."""
    from kubetrain.dev import logs as pod_logs

    cfg = _config(config)
    try:
        source = pod_logs.find(cfg.state_dir, namespace, pod, container, previous=previous)
    except pod_logs.LogNotFound as exc:
        raise _fail(exc) from exc
    out = sys.stdout.buffer
    with source.path.open("rb") as fh:
        while True:
            chunk = fh.read(65536)
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            if not follow or not source.running():
                break
            time.sleep(0.3)
