"""The `kubetrain` command: one typer app whose sub-commands live in sibling modules.

Each sub-command module builds its own typer app or command and is imported lazily here so
that `kubetrain dev status` does not pay for importing torch or ray.
"""

from __future__ import annotations

import typer

from kubetrain.cli import dev, run, store
from kubetrain.cli.operator import operator

app = typer.Typer(
    name="kubetrain",
    help="Train machine-learning models on Kubernetes from one TrainingJob manifest.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(dev.app, name="dev")
app.command("run")(run.run)
app.add_typer(store.app, name="store")
app.command("operator")(operator)


def main() -> None:
    """Console-script entry point."""
    app()
