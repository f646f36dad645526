"""The model: one from the built-in catalogue with its hyperparameters, or your own code.

Built-in PyTorch networks also take `training` (epochs, optimizer, loss, early stopping,
regularisation); scikit-learn estimators take everything through their hyperparameters.
Your own code runs in your image with the same data, output, checkpoint and Ray environment.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from kubetrain.api.base import (
    ApiModel,
    Count,
    FreeForm,
    Rule,
    Seconds,
    Seed,
    Text,
    cel_list,
    defaulted,
)
from kubetrain.api.catalogue import NETWORKS
from kubetrain.api.enums import Loss, ModelName, Optimizer


class BuiltinModel(ApiModel):
    """A model of the built-in catalogue (see the catalogue tables in docs/api.md)."""

    name: ModelName
    """The model. It must serve the task."""
    hyperparameters: FreeForm = defaulted(dict)
    """The model's hyperparameters, by the names the catalogue lists (scikit-learn's own names
    for estimators). Unset ones take the catalogue default; the operator checks names and types."""


class AutoModel(ApiModel):
    """Automatic model selection: try the task's models within a budget, keep the best.

    Each candidate is tried first with the catalogue's defaults; the trials left are spread over
    the candidates in turn, each a random draw from the model's typical search ranges (the
    catalogue tables list them). Trials run on Ray like tuning; the report ranks every
    candidate by the objective on the validation rows.
    """

    models: Annotated[list[ModelName], Field(max_length=32)] = defaulted(list)
    """The candidates; when empty, every model that serves the task except PyTorch networks
    and the statistical forecasters (ets, arima, theta), which take part only when listed."""
    max_trials: Annotated[int, Field(strict=True, ge=1, le=1000)] = 20
    """Trials in all; at least one per candidate is run even when this is smaller."""
    parallel_trials: Count = 1
    """Trials that run at the same time."""
    time_budget_seconds: Seconds | None = None
    """Stop starting trials after this long; the best so far is kept."""
    seed: Seed | None = None
    """The seed of the draws; the preparation's seed when unset."""


class EarlyStopping(ApiModel):
    """Stop training when the objective has not improved for a while."""

    patience: Annotated[int, Field(strict=True, ge=1, le=1000)] = 5
    """Epochs without improvement before stopping."""
    min_delta: Annotated[float, Field(strict=True, ge=0.0)] = 0.0
    """The smallest change of the objective that counts as an improvement."""


class Training(ApiModel):
    """How a PyTorch network trains (and what your own code is handed, as environment)."""

    epochs: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 10
    """Passes over the training data."""
    batch_size: Annotated[int, Field(strict=True, ge=1, le=65_536)] = 32
    """Rows per batch, per worker."""
    learning_rate: Annotated[float, Field(strict=True, gt=0.0, le=10.0)] = 0.001
    """The optimizer's learning rate."""
    optimizer: Optimizer = Optimizer.ADAM
    """The optimizer."""
    loss: Loss | None = None
    """The loss; it must fit the task. Defaults to cross-entropy (classification) or mse."""
    early_stopping: EarlyStopping | None = None
    """Stop early when the objective stalls; off when unset."""
    weight_decay: Annotated[float, Field(strict=True, ge=0.0, le=1.0)] = 0.0
    """L2 regularisation."""
    dropout: Annotated[float, Field(strict=True, ge=0.0, lt=1.0)] = 0.0
    """Dropout probability between layers."""


EnvName = Annotated[
    str,
    StringConstraints(strict=True, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
]
Argument = Annotated[str, StringConstraints(strict=True, max_length=4096)]


class EnvVar(ApiModel):
    """An environment variable for your code."""

    name: EnvName
    """The name; KUBETRAIN_* names are the operator's."""
    value: Text = ""
    """The value."""

    rules = (
        Rule(
            cel="!self.name.startsWith('KUBETRAIN_')",
            message="KUBETRAIN_ variables are set by the operator",
            holds=lambda e: not e.name.startswith("KUBETRAIN_"),
            field=".name",
        ),
    )


class CustomCode(ApiModel):
    """Your own training code: an image and a command.

    The trainer (`python -m kubetrain_trainer`, which the image must contain) runs the command
    on the job's driver pod (the Ray head with several workers) with the data, output,
    checkpoint and Ray settings as KUBETRAIN_* variables, and reads its metrics back.
    """

    image: Annotated[str, StringConstraints(strict=True, max_length=512, pattern=r"^[!-~]+$")]
    """The container image; it must contain the kubetrain trainer package."""
    command: Annotated[list[Argument], Field(min_length=1, max_length=64)]
    """The command the trainer runs (e.g. ["python", "train.py"])."""
    args: Annotated[list[Argument], Field(max_length=256)] = defaulted(list)
    """Arguments to the command."""
    env: Annotated[
        list[EnvVar],
        Field(
            max_length=64,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        ),
    ] = defaulted(list)
    """Extra environment variables, unique by name."""

    @field_validator("env")
    @classmethod
    def _unique_names(cls, env: list[EnvVar]) -> list[EnvVar]:
        # The API server enforces this through x-kubernetes-list-type: map.
        names = [var.name for var in env]
        if len(names) != len(set(names)):
            raise ValueError("environment variable names must be unique")
        return env


class ModelSpec(ApiModel):
    """The model: exactly one of builtin or custom."""

    builtin: BuiltinModel | None = None
    """A model from the built-in catalogue."""
    custom: CustomCode | None = None
    """Your own code."""
    auto: AutoModel | None = None
    """Let the platform choose the model (and its hyperparameters) within a budget."""
    training: Training | None = None
    """Training settings for a PyTorch network (or for your code); defaults when unset."""

    rules = (
        Rule(
            cel="(has(self.builtin) ? 1 : 0) + (has(self.custom) ? 1 : 0) "
            "+ (has(self.auto) ? 1 : 0) == 1",
            message="set exactly one of builtin, custom or auto",
            holds=lambda m: [m.builtin, m.custom, m.auto].count(None) == 2,
        ),
        Rule(
            cel="!has(self.training) || !has(self.builtin) || "
            f"self.builtin.name in {cel_list(NETWORKS)}",
            message="applies to PyTorch networks and custom code; scikit-learn estimators take "
            "their settings as hyperparameters",
            holds=lambda m: m.training is None or m.builtin is None or m.builtin.name in NETWORKS,
            field=".training",
        ),
    )

    @property
    def resolved_training(self) -> Training | None:
        """The training settings in effect: None for scikit-learn estimators."""
        if self.builtin is not None and self.builtin.name not in NETWORKS:
            return None
        if self.auto is not None and not any(m in NETWORKS for m in self.auto.models):
            return None
        return self.training or Training()
