"""Built-in networks on streamed shards: data parallel (DDP) or fully sharded (FSDP).

Each worker streams its own shard of the prepared training Dataset in mini-batches (the
declared batch size divided by the number of workers, so the effective batch stays the
declared one) and never sees another worker's rows. `compute.strategy` chooses how the model
is spread: `ddp` keeps a whole copy per worker and averages gradients; `fsdp` shards the
parameters, gradients and optimizer state across workers with PyTorch's `fully_shard` (FSDP2),
which runs on CPUs with gloo as on GPUs with NCCL — Ray Train's `prepare_model(
parallel_strategy="fsdp")` wraps in FSDP1, which refuses a machine without an accelerator.

The validation loss is summed per shard and all-reduced, so every rank sees the same number and
early stopping decides the same everywhere. Rank 0 gathers the full weights each epoch into a
Ray Train checkpoint (in the job's store); a resumed run starts from the latest one.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

from kubetrain_trainer.distributed.workers import ShardReader, publish


def _wrap(model: Any, strategy: str, world: int, device: str) -> Any:
    import torch

    if world <= 1:
        return model
    if strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh("cuda" if device.startswith("cuda") else "cpu", (world,))
        for layer in model.modules():
            if isinstance(layer, torch.nn.Linear | torch.nn.Embedding):
                fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    ids = [int(device.split(":")[1])] if device.startswith("cuda:") else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def _full_state(model: Any, world: int) -> dict[str, Any]:
    """The unsharded weights on CPU (every rank must call this: it gathers)."""
    if world <= 1:
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return dict(get_model_state_dict(model, options=options))


def _all_sum(values: list[float], world: int, device: str) -> list[float]:
    if world <= 1:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def network_loop(config: dict[str, Any]) -> None:
    """Ray Train's per-worker function (TorchTrainer)."""
    import ray.train
    import ray.train.torch
    import torch

    from kubetrain_trainer.models.catalogue import make_network
    from kubetrain_trainer.models.torch_train import _tensor_y, loss_function, make_optimizer

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = str(ray.train.torch.get_device())
    task, training = config["task"], config["training"]
    torch.manual_seed(config["seed"])
    model = make_network(config["definition"]).to(device)
    start, history = 1, []
    found = ray.train.get_checkpoint()
    if found is not None:
        with found.as_directory() as directory:
            saved = torch.load(Path(directory) / "state.pt", weights_only=False)
        model.load_state_dict(saved["state_dict"])
        start, history = saved["epoch"] + 1, saved["history"]
    net = _wrap(model, config["strategy"], world, device)
    optimizer = make_optimizer(training, net.parameters())
    criterion = loss_function(task, training.loss)
    reader = ShardReader("train", rank, config["batch_rows"])
    reader.counters.resumed_from = start - 1
    validation = ShardReader("validation", rank, 4096) if config["has_validation"] else None
    best, bad = math.inf, 0
    for epoch in range(start, training.epochs + 1):
        started = time.monotonic()
        net.train()
        total, count = 0.0, 0.0
        for batch in reader.batches():
            xb = torch.tensor(batch["x"], device=device)  # a copy: the batch is read-only
            yb = _tensor_y(task, batch["y"]).to(device)
            optimizer.zero_grad()
            loss = criterion(net(xb), yb)
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * len(xb), count + len(xb)
        total, count = _all_sum([total, count], world, device)
        record: dict[str, Any] = {"epoch": epoch, "train_loss": total / max(count, 1.0)}
        if validation is not None:
            net.eval()
            loss_sum, n = 0.0, 0.0
            with torch.no_grad():
                for batch in validation.batches():
                    out = net(torch.tensor(batch["x"], device=device))
                    yb = _tensor_y(task, batch["y"]).to(device)
                    loss_sum, n = loss_sum + float(criterion(out, yb)) * len(yb), n + len(yb)
            loss_sum, n = _all_sum([loss_sum, n], world, device)
            record["val_loss"] = loss_sum / max(n, 1.0)
        record["seconds"] = time.monotonic() - started
        history.append(record)
        state = _full_state(net, world)
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                torch.save({"epoch": epoch, "state_dict": state, "history": history},
                           Path(tmp) / "state.pt")  # fmt: skip
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report({k: v for k, v in record.items()}, checkpoint=checkpoint)
        monitored = record.get("val_loss", record["train_loss"])
        best, bad = (monitored, 0) if monitored < best - training.min_delta else (best, bad + 1)
        if training.patience is not None and bad >= training.patience:
            break
    publish(config["store"], reader.counters)


def fit_network(
    definition: Any, task: str, spec: Any, datasets: dict[str, Any], store: Any,
    batch_rows: int, storage: dict[str, Any], name: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """(final weights, history) of a network trained on the shards of `datasets`."""
    import torch

    from kubetrain_trainer.distributed.runner import run_trainer
    from kubetrain_trainer.errors import TrainerError

    config = {
        "task": task,
        "definition": definition,
        "training": spec.training,
        "seed": spec.seed,
        "strategy": spec.strategy,
        "batch_rows": batch_rows,
        "has_validation": "validation" in datasets,
        "store": store,
    }
    result = run_trainer("torch", network_loop, config, datasets, spec, storage, name)
    if result.checkpoint is None:
        raise TrainerError("distributed training returned no model.")
    with result.checkpoint.as_directory() as directory:
        saved = torch.load(Path(directory) / "state.pt", map_location="cpu", weights_only=False)
    return saved["state_dict"], saved["history"]
