"""`kubetrain run FILE.yaml`: run a TrainingJob manifest on this machine, without a cluster."""

from __future__ import annotations

from pathlib import Path

import typer


def run(manifest: Path = typer.Argument(..., help="TrainingJob manifest (YAML)")) -> None:
    """Run a TrainingJob locally."""
    typer.echo(f"not implemented yet: {manifest}", err=True)
    raise typer.Exit(2)
