"""The built-in model catalogue's builders: estimators (scikit-learn API) and PyTorch networks.

What models exist, which tasks each serves, its hyperparameters and which class it is built
from are the API's catalogue (`kubetrain.api.catalogue.MODELS`, the single source of truth; its
defaults are filled in by `config.py` before anything here runs). This module keeps only the
builders: `ESTIMATOR_BUILDERS` (how to instantiate an estimator class: library quirks, seeds,
devices) and `NETWORK_KINDS` (which PyTorch module a network name builds). A test proves that
every catalogue entry has a builder and every builder an entry. `make_network` builds a module
from a `NetworkDef`, the small JSON-serialisable definition saved next to the weights so that
`load + predict` needs nothing but this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from kubetrain_trainer.errors import InvalidSpecError

# The API's tasks that each of the trainer's base tasks covers, in the order they are looked up.
_API_TASKS = {
    "classification": ("classification", "text-classification", "image-classification"),
    "regression": ("regression",),
    "forecasting": ("forecasting",),
}
# Hyperparameters the preprocessor consumes rather than the estimator.
PREPROCESSOR_HYPERPARAMETERS = {"max_features", "ngram_max", "vocab_size", "max_length"}
# Catalogue values that are spelled differently in scikit-learn.
_SKLEARN_VALUES = {("max_features", "all"): None, ("class_weight", "none"): None}


@dataclass(frozen=True)
class BuildContext:
    """What a builder knows besides the hyperparameters."""

    task: str  # classification | regression | forecasting
    seed: int
    gpus: float = 0  # compute.gpusPerWorker


Builder = Callable[[type, dict[str, Any], BuildContext], Any]


def _plain(cls: type, kwargs: dict[str, Any], ctx: BuildContext) -> Any:
    if "random_state" in cls().get_params():
        kwargs.setdefault("random_state", ctx.seed)
    return cls(**kwargs)


def _logistic(cls: type, kwargs: dict[str, Any], ctx: BuildContext) -> Any:
    kwargs.pop("max_features", None), kwargs.pop("ngram_max", None)  # the TF-IDF's
    kwargs.setdefault("max_iter", 2000)
    return _plain(cls, kwargs, ctx)


def _svm(cls: type, kwargs: dict[str, Any], ctx: BuildContext) -> Any:
    if ctx.task == "classification":
        kwargs.setdefault("probability", True)
    return _plain(cls, kwargs, ctx)


def _lightgbm(cls: type, kwargs: dict[str, Any], ctx: BuildContext) -> Any:
    # LightGBM's GPU learner (OpenCL) when the worker has a GPU; its logging stays quiet.
    device = {"device_type": "gpu"} if ctx.gpus else {}
    if kwargs.get("subsample", 1.0) < 1.0:
        kwargs.setdefault("subsample_freq", 1)  # LightGBM ignores subsample without it
    return cls(**{"random_state": ctx.seed, "verbosity": -1, "n_jobs": 1, **device, **kwargs})


def _xgboost(cls: type, kwargs: dict[str, Any], ctx: BuildContext) -> Any:
    device = "cuda" if ctx.gpus else "cpu"
    return cls(**{"random_state": ctx.seed, "tree_method": "hist", "device": device, **kwargs})


ESTIMATOR_BUILDERS: dict[str, Builder] = {
    "logistic-regression": _logistic,
    "tfidf-logistic-regression": _logistic,
    "linear-regression": _plain,
    "ridge": _plain,
    "lasso": _plain,
    "decision-tree": _plain,
    "random-forest": _plain,
    "gradient-boosting": _plain,
    "hist-gradient-boosting": _plain,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
    "svm": _svm,
    "knn": _plain,
    "gaussian-nb": _plain,
    "ets": _plain,
    "arima": _plain,
    "theta": _plain,
}
NETWORK_KINDS = {
    "mlp": "mlp",
    "cnn": "cnn",
    "lstm": "sequence",
    "gru": "sequence",
    "text-cnn": "text-cnn",
    "text-lstm": "text-lstm",
}


def _norm(name: str) -> str:
    return str(name).lower().replace("_", "-")


def _catalogue() -> Any:
    from kubetrain.api.catalogue import MODELS

    return MODELS


def model_family(name: str) -> str:
    """`sklearn` (an estimator with the scikit-learn API) or `torch`."""
    info = _catalogue().get(_norm(name))
    if info is None:
        raise InvalidSpecError(
            f"unknown built-in model {name!r}; models: {', '.join(map(str, _catalogue()))}."
        )
    return str(info.family)


def network_kind(name: str) -> str:
    return NETWORK_KINDS[_norm(name)]


def estimator_class(name: str, task: str) -> type:
    """The class the catalogue names for `name` and the trainer's base `task`."""
    info = _catalogue()[_norm(name)]
    path = next((info.estimators[t] for t in info.estimators if t in _API_TASKS[task]), None)
    if path is None:
        serves = ", ".join(str(t) for t in info.estimators)
        raise InvalidSpecError(f"model {name!r} cannot be used for {task}; it serves {serves}.")
    module, _, cls_name = path.rpartition(".")
    try:
        return cast(type, getattr(importlib.import_module(module), cls_name))
    except ImportError as exc:
        raise InvalidSpecError(
            f"model {name!r} needs the Python package {module.split('.')[0]!r}, which this "
            f"trainer image lacks ({exc})."
        ) from exc


def make_estimator(
    name: str, task: str, hyperparameters: dict[str, Any], seed: int, gpus: float = 0
) -> Any:
    key = _norm(name)
    cls = estimator_class(key, task)
    params = cls().get_params()
    kwargs = {
        k: _SKLEARN_VALUES.get((k, v), v) if isinstance(v, str) else v
        for k, v in hyperparameters.items()
        if not (key == "tfidf-logistic-regression" and k in PREPROCESSOR_HYPERPARAMETERS)
    }
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise InvalidSpecError(
            f"{cls.__name__} has no hyperparameter(s) {', '.join(unknown)}; "
            f"valid ones: {', '.join(sorted(params))}."
        )
    try:
        return ESTIMATOR_BUILDERS[key](cls, kwargs, BuildContext(task, seed, gpus))
    except (TypeError, ValueError) as exc:
        raise InvalidSpecError(f"invalid hyperparameters for {cls.__name__}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# PyTorch networks


@dataclass
class NetworkDef:
    """Everything needed to rebuild the module before loading its state_dict."""

    kind: str  # mlp | cnn | sequence | text-cnn | text-lstm
    n_inputs: int
    n_outputs: int
    params: dict[str, Any] = field(default_factory=dict)  # the catalogue's hyperparameters
    dropout: float = 0.0
    image_shape: tuple[int, int, int] | None = None
    vocab_size: int = 0
    cell: str = "gru"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetworkDef:
        data = dict(data)
        if data.get("image_shape") is not None:
            data["image_shape"] = tuple(data["image_shape"])
        return cls(**data)


def network_def(
    name: str,
    hyperparameters: dict[str, Any],
    *,
    n_inputs: int,
    n_outputs: int,
    dropout: float,
    image_shape: tuple[int, int, int] | None = None,
    vocab_size: int = 0,
) -> NetworkDef:
    kind = network_kind(name)
    if kind == "cnn" and image_shape is None:
        side = round(n_inputs**0.5)
        if side * side != n_inputs:
            raise InvalidSpecError(
                f"the cnn needs square single-channel images; {n_inputs} pixel columns are not."
            )
        image_shape = (1, side, side)
    if kind.startswith("text") and vocab_size == 0:
        raise InvalidSpecError(f"{name} needs a text column in the data.")
    return NetworkDef(
        kind=kind,
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        params={k: v for k, v in hyperparameters.items() if k not in ("vocab_size",)},
        dropout=float(dropout),
        image_shape=image_shape,
        vocab_size=vocab_size,
        cell="lstm" if _norm(name) == "lstm" else "gru",
    )


def make_network(definition: NetworkDef) -> Any:
    import torch
    from torch import nn

    d = definition
    p = d.params

    def activation() -> nn.Module:
        return cast(
            "nn.Module",
            {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[p.get("activation", "relu")](),
        )

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            width = d.n_inputs
            for h in p.get("hidden_units", [64, 64]):
                layers.append(nn.Linear(width, h))
                if p.get("batch_norm"):
                    layers.append(nn.BatchNorm1d(h))
                layers += [activation(), nn.Dropout(d.dropout)]
                width = h
            layers.append(nn.Linear(width, d.n_outputs))
            self.net = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return cast("torch.Tensor", self.net(x.flatten(1)))

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            assert d.image_shape is not None
            channels, height, width = d.image_shape
            k = int(p.get("kernel_size", 3))
            layers: list[nn.Module] = []
            for out in p.get("channels", [32, 64]):
                layers += [nn.Conv2d(channels, out, k, padding=k // 2), nn.ReLU()]
                channels = out
            layers.append(nn.MaxPool2d(2))
            self.features = nn.Sequential(*layers)
            flat = channels * (height // 2) * (width // 2)
            hidden = int(p.get("hidden_units", 128))
            self.head = nn.Sequential(
                nn.Flatten(), nn.Dropout(d.dropout), nn.Linear(flat, hidden), nn.ReLU(),
                nn.Linear(hidden, d.n_outputs),
            )  # fmt: skip

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert d.image_shape is not None
            return cast("torch.Tensor", self.head(self.features(x.view(-1, *d.image_shape))))

    class Sequence(nn.Module):
        """An RNN over the window, plus a linear skip from the raw window to the output."""

        def __init__(self) -> None:
            super().__init__()
            size, layers = int(p.get("hidden_size", 64)), int(p.get("num_layers", 1))
            rnn = nn.LSTM if d.cell == "lstm" else nn.GRU
            self.rnn = rnn(1, size, num_layers=layers, batch_first=True,
                           dropout=d.dropout if layers > 1 else 0.0)  # fmt: skip
            self.head = nn.Linear(size + d.n_inputs, d.n_outputs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(x.unsqueeze(-1))
            return cast("torch.Tensor", self.head(torch.cat([out[:, -1, :], x], dim=1)))

    class TextCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dim, filters = int(p.get("embedding_dim", 64)), int(p.get("num_filters", 100))
            self.embed = nn.Embedding(d.vocab_size, dim, padding_idx=0)
            self.convs = nn.ModuleList(
                nn.Conv1d(dim, filters, k, padding=k // 2) for k in p.get("kernel_sizes", [3, 4, 5])
            )
            self.dropout = nn.Dropout(d.dropout)
            self.head = nn.Linear(filters * len(self.convs), d.n_outputs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            e = self.embed(x.long()).transpose(1, 2)
            pooled = [torch.relu(conv(e)).amax(dim=2) for conv in self.convs]
            return cast("torch.Tensor", self.head(self.dropout(torch.cat(pooled, dim=1))))

    class TextLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dim, size = int(p.get("embedding_dim", 64)), int(p.get("hidden_size", 64))
            layers, bi = int(p.get("num_layers", 1)), bool(p.get("bidirectional", True))
            self.embed = nn.Embedding(d.vocab_size, dim, padding_idx=0)
            self.rnn = nn.LSTM(dim, size, num_layers=layers, batch_first=True, bidirectional=bi,
                               dropout=d.dropout if layers > 1 else 0.0)  # fmt: skip
            self.dropout = nn.Dropout(d.dropout)
            self.head = nn.Linear(size * (2 if bi else 1), d.n_outputs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = x.long()
            mask = (tokens > 0).unsqueeze(-1).float()
            out, _ = self.rnn(self.embed(tokens))
            # Mean over real tokens: padding neither helps nor hurts.
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1)
            return cast("torch.Tensor", self.head(self.dropout(pooled)))

    classes = {"mlp": MLP, "cnn": SmallCNN, "sequence": Sequence, "text-cnn": TextCNN,
               "text-lstm": TextLSTM}  # fmt: skip
    return classes[d.kind]()
