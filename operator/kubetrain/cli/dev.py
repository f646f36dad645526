"""`kubetrain dev up | down | status | logs`: the local development cluster."""

from __future__ import annotations

import typer

app = typer.Typer(help="A real local Kubernetes cluster with simulated node pools and S3.")
