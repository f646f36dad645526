"""PyTorch training: one epoch loop for a single process, Ray Train workers and trials.

`fit_network` trains a `NetworkDef` on `Arrays` with the declared loss, optimizer, epochs, early
stopping and regularisation (weight decay, dropout). The same loop runs

- in the trainer process (one worker, no GPU),
- in each Ray Train worker (`ray_train.fit_distributed`), on its shard, wrapped in DDP,
- in each Ray Tune trial (`tuning.trial`), which reports the validation objective every epoch.

`LoopHooks` is how the caller plugs in checkpoints, progress, SIGTERM and per-epoch reports; it
is picklable so that Ray can ship it to workers.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubetrain.api.contract import Env
from kubetrain_trainer.errors import Interrupted, InvalidSpecError
from kubetrain_trainer.evaluation.health import live_findings, saturation
from kubetrain_trainer.models.catalogue import NetworkDef, make_network
from kubetrain_trainer.preparation.spec import Arrays
from kubetrain_trainer.runtime.checkpoint import CheckpointStore, StopSignal
from kubetrain_trainer.runtime.progress import ProgressReporter

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
CLASSIFICATION_LOSSES = ("cross_entropy",)
REGRESSION_LOSSES = ("mse", "mae", "huber")


@dataclass(frozen=True)
class TrainingSpec:
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    loss: str | None = None  # default: cross_entropy for classification, mse otherwise
    patience: int | None = None  # early stopping; None = off
    min_delta: float = 0.0
    weight_decay: float = 0.0
    dropout: float = 0.0
    gradient_clip: float | None = None


def _loss_key(name: str) -> str:
    key = name.lower().replace("-", "_")
    aliases = {
        "crossentropy": "cross_entropy", "ce": "cross_entropy", "bce": "cross_entropy",
        "binary_cross_entropy": "cross_entropy", "categorical_cross_entropy": "cross_entropy",
        "l2": "mse", "mean_squared_error": "mse", "l1": "mae", "mean_absolute_error": "mae",
        "smooth_l1": "huber",
    }  # fmt: skip
    return aliases.get(key, key)


def loss_function(task: str, name: str | None) -> Any:
    from torch import nn

    key = _loss_key(name) if name else ("cross_entropy" if task == "classification" else "mse")
    if task == "classification" and key not in CLASSIFICATION_LOSSES:
        raise InvalidSpecError(f"loss {name!r} does not fit classification; use cross_entropy.")
    if task != "classification" and key not in REGRESSION_LOSSES:
        raise InvalidSpecError(f"loss {name!r} does not fit {task}; use mse, mae or huber.")
    return {
        "cross_entropy": nn.CrossEntropyLoss,
        "mse": nn.MSELoss,
        "mae": nn.L1Loss,
        "huber": nn.HuberLoss,
    }[key]()


def make_optimizer(spec: TrainingSpec, params: Any) -> Any:
    import torch

    name = spec.optimizer.lower()
    lr, wd = spec.learning_rate, spec.weight_decay
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=0.9)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)


@dataclass
class LoopHooks:
    checkpoints: CheckpointStore | None = None
    progress: ProgressReporter | None = None
    stop: StopSignal | None = None
    # Called after every epoch with the epoch record and validation outputs (Ray reports, Tune).
    on_epoch: Callable[[dict[str, Any], np.ndarray | None], None] | None = None
    # Read-only checkpoints for data-parallel workers that do not write them (ranks > 0): every
    # rank must resume from the same epoch, or DDP's collectives wait forever for the others.
    resume: CheckpointStore | None = None


@dataclass
class NetworkOutcome:
    definition: NetworkDef
    state_dict: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_run: int = 0  # epochs trained by this process (not counting resumed ones)
    best_epoch: int = 0
    resumed_from_epoch: int | None = None
    resumed_from_attempt: str | None = None  # the attempt whose checkpoint it went on from
    stopped_early: bool = False
    diverged: bool = False
    device: str = "cpu"


def torch_threads() -> int:
    """Intra-op threads: 1 unless `KUBETRAIN_TORCH_THREADS` says otherwise.

    The built-in networks are small; on a busy node, OpenMP threads spin against each other and
    a 30-epoch MLP went from 0.2 s (1 thread) to 8 s (2 threads). Big CNNs on dedicated nodes can
    raise it.
    """
    return max(1, int(os.environ.get(Env.TORCH_THREADS, "1")))


def pick_device(use_gpu: bool | None = None) -> str:
    import torch

    if use_gpu is False:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def predict_outputs(model: Any, x: np.ndarray, device: str = "cpu", batch: int = 1024) -> Any:
    """Raw network outputs (logits or scaled values) for `x`, in eval mode."""
    import torch

    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.as_tensor(x[i : i + batch]).to(device)
            outs.append(model(xb).float().cpu())
    return torch.cat(outs).numpy() if outs else np.zeros((0,))


def _tensor_y(task: str, y: np.ndarray) -> Any:
    import torch

    if task == "classification":
        return torch.as_tensor(y, dtype=torch.long)
    t = torch.as_tensor(y, dtype=torch.float32)
    return t.unsqueeze(1) if t.ndim == 1 else t


def fit_network(
    task: str,
    definition: NetworkDef,
    spec: TrainingSpec,
    train: Arrays,
    validation: Arrays | None,
    *,
    seed: int,
    hooks: LoopHooks | None = None,
    device: str = "cpu",
    rank: int = 0,
    world_size: int = 1,
    wrap_model: Callable[[Any], Any] | None = None,
) -> NetworkOutcome:
    """Train; resume from the hooks' checkpoint store when it has a matching state."""
    import torch

    hooks = hooks or LoopHooks()
    torch.set_num_threads(torch_threads())
    torch.manual_seed(seed)
    model = make_network(definition).to(device)
    criterion = loss_function(task, spec.loss)
    optimizer = make_optimizer(spec, model.parameters())
    start_epoch, history = 1, []
    best_loss, best_state, best_epoch, bad_epochs = math.inf, None, 0, 0
    outcome = NetworkOutcome(definition=definition, state_dict={}, device=device)

    source = hooks.checkpoints if hooks.checkpoints is not None else hooks.resume
    if source is not None:
        found = source.latest()
        if found is not None:
            state, pointer = found
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch = int(state["epoch"]) + 1
            history = list(state["history"])
            best_loss, best_epoch = state["best_loss"], state["best_epoch"]
            best_state, bad_epochs = state["best_state"], state["bad_epochs"]
            outcome.resumed_from_epoch = int(state["epoch"])
            outcome.resumed_from_attempt = str(pointer["attempt"])

    net = wrap_model(model) if wrap_model else model
    # Each worker trains on its own shard; rank r takes every world_size-th row.
    # Equal shards: every rank runs the same number of steps (DDP synchronises each one).
    usable = len(train.x) - len(train.x) % world_size
    x_train = torch.as_tensor(train.x[:usable][rank::world_size])
    y_train = _tensor_y(task, train.y[:usable][rank::world_size])
    batch_size = max(1, math.ceil(spec.batch_size / world_size))
    eval_set = validation if validation is not None and len(validation) else None

    def snapshot(epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "model": copy.deepcopy(model.state_dict()),
            "optimizer": copy.deepcopy(optimizer.state_dict()),
            "history": history,
            "best_loss": best_loss,
            "best_epoch": best_epoch,
            "best_state": best_state,
            "bad_epochs": bad_epochs,
        }

    def interrupted(epoch_done: int) -> Interrupted:
        if hooks.checkpoints is not None and rank == 0:
            name = hooks.checkpoints.save(snapshot(epoch_done), epoch_done)
            return Interrupted(f"stopped by SIGTERM after epoch {epoch_done}; saved {name}.")
        return Interrupted(f"stopped by SIGTERM after epoch {epoch_done}.")

    for epoch in range(start_epoch, spec.epochs + 1):
        started = time.monotonic()
        net.train()
        generator = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(x_train), generator=generator)
        total, count, grad_sq, steps = 0.0, 0, 0.0, 0
        for i in range(0, len(order), batch_size):
            if _stop_agreed(hooks.stop, world_size, device):
                raise interrupted(epoch - 1)
            idx = order[i : i + batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            optimizer.zero_grad()
            loss = criterion(net(xb), yb)
            loss.backward()
            if spec.gradient_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.gradient_clip)
            grad_sq += float(
                sum((p.grad.detach() ** 2).sum() for p in model.parameters() if p.grad is not None)
            )
            steps += 1
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        train_loss = total / max(count, 1)
        record: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": train_loss,
            "grad_norm": math.sqrt(grad_sq / max(steps, 1)),
        }
        val_out = None
        if eval_set is not None:
            val_out = predict_outputs(model, eval_set.x, device)
            val_loss = float(
                criterion(torch.as_tensor(val_out), _tensor_y(task, eval_set.y)).detach()
            )
            record["val_loss"] = val_loss
        record["seconds"] = time.monotonic() - started
        if count:
            record["saturated"] = saturation(net, xb)
        history.append(record)

        if not math.isfinite(train_loss):
            outcome.diverged = True
            break
        monitored = record.get("val_loss", train_loss)
        if monitored < best_loss - spec.min_delta:
            best_loss, best_epoch, bad_epochs = monitored, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        outcome.epochs_run += 1

        if hooks.on_epoch is not None:
            hooks.on_epoch(record, val_out)
        if rank == 0:
            if hooks.progress is not None:
                hooks.progress.update(
                    "training", completed=epoch, total=spec.epochs, unit="epochs",
                    best=("val_loss" if eval_set is not None else "train_loss",
                          best_loss if math.isfinite(best_loss) else None),
                    health=live_findings(history),
                )  # fmt: skip
            if hooks.checkpoints is not None:
                hooks.checkpoints.maybe_save(lambda e=epoch: snapshot(e), epoch)
        if spec.patience is not None and bad_epochs >= spec.patience:
            outcome.stopped_early = True
            break
        if _stop_agreed(hooks.stop, world_size, device):
            raise interrupted(epoch)

    if best_state is not None:
        model.load_state_dict(best_state)
    outcome.history = history
    outcome.best_epoch = best_epoch
    outcome.state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return outcome


def _stop_agreed(stop: StopSignal | None, world_size: int, device: str) -> bool:
    """Whether to stop now; data-parallel ranks decide together.

    Ranks see a stop request at different moments (each polls the marker on its own clock),
    but DDP synchronises every step: a rank that stopped alone would leave the others waiting
    in the next all-reduce. So the ranks all-reduce their answers, and stop together.
    """
    local = stop is not None and stop.requested()
    if world_size <= 1:
        return local
    import torch
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        return local
    flag = torch.tensor([1.0 if local else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


def network_predict(
    definition: NetworkDef, state_dict: dict[str, Any], task: str, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """(predictions, probabilities) in model space: class indices or scaled values."""
    import torch

    model = make_network(definition)
    model.load_state_dict(state_dict)
    out = predict_outputs(model, x)
    if task == "classification":
        proba = torch.softmax(torch.as_tensor(out), dim=1).numpy()
        return proba.argmax(axis=1), proba
    return (out.ravel() if out.shape[1] == 1 else out), None
