"""`kubetrain store status | stop`: the local S3 store that `kubetrain run` keeps running."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The local S3 store (SeaweedFS) that `kubetrain run` starts once and reuses.",
    no_args_is_help=True,
)


@app.command()
def status() -> None:
    """Where the store is (endpoint, bucket, data, credentials), or that it is stopped."""
    from kubetrain.dev.runstore import RunStore

    store = RunStore.default()
    endpoint = store.running()
    if endpoint is None:
        typer.echo(f"The kubetrain run store is stopped (data in {store.data_dir}).")
        raise typer.Exit(1)
    typer.echo(
        f"The kubetrain run store runs at {endpoint.endpoint}, bucket {endpoint.bucket}\n"
        f"  data:        {store.data_dir}\n"
        f"  credentials: {store.credentials_file}\n"
        f"  log:         {store.log}\n"
        "Stop it with `kubetrain store stop`."
    )


@app.command()
def stop() -> None:
    """Stop the store; its data stays, and the next `kubetrain run` starts it again."""
    from kubetrain.dev.runstore import RunStore

    store = RunStore.default()
    stopped = store.stop()
    state = "Stopped" if stopped else "Not running:"
    typer.echo(f"{state} the kubetrain run store (data kept in {store.data_dir}).")
