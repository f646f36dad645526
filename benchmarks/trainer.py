#!/usr/bin/env python3
"""Benchmark 2 of issue 11: the trainer's frameworks against plain PyTorch and the ideal.

  ddp    Ray Train data-parallel (TorchTrainer, `prepare_model`, as models.ray_train
         runs networks) against plain PyTorch DDP launched by torchrun: the same MLP, data,
         seed, batch size and 2 CPU workers on gloo, one torch thread each. Reports the wall
         time from launch to result, and the training loop's own time on rank 0; overhead =
         Ray / torchrun - 1 (target <= 3%).
  tune   Ray Tune running many short trials (each sleeps --trial-seconds, one CPU each, as
         many at a time as there are CPUs) against the ideal, trials x seconds / parallelism.
         Overhead = fit time / ideal - 1 (target <= 10%); Ray's start is reported apart.
  asha   The trainer's own tuning (`kubetrain run --output`, an MLP on wine (--tuning-dataset), a
         grid of learning rates and widths so both searches see the same trials): ASHA against
         no scheduler (random/grid search to the end). Compute = epochs run by all trials; the
         ratio is ASHA's compute / the full search's when ASHA reaches the same best score
         (target <= 1/3).

    .venv/bin/python benchmarks/trainer.py                 # all three, 3 repetitions of ddp/tune
    .venv/bin/python benchmarks/trainer.py --part ddp --epochs 10 --rows 40000
    .venv/bin/python benchmarks/trainer.py --smoke         # tiny sizes, once (for the tests)

Results: a table on stdout and JSON (--out). docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_util import machine, median, table, write_json

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"ddp": 0.03, "tune": 0.10, "asha": 1 / 3}


# --------------------------------------------------------------------------------------------
# ddp: the same loop under torchrun and under Ray Train


def _loop(cfg: dict[str, Any], wrap: Any) -> float:
    """Train the MLP on this rank's shard; the loop's seconds (the same on every rank)."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank, world = dist.get_rank(), dist.get_world_size()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(cfg["rows"], cfg["features"], generator=gen)
    y = (x[:, : cfg["features"] // 2].sum(dim=1) > 0).long()
    x, y = x[rank::world], y[rank::world]
    torch.manual_seed(0)
    width = cfg["width"]
    net = torch.nn.Sequential(
        torch.nn.Linear(cfg["features"], width), torch.nn.ReLU(),
        torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 2),
    )  # fmt: skip
    model = wrap(net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch = cfg["batch"] // world
    dist.barrier()
    started = time.perf_counter()
    for _ in range(cfg["epochs"]):
        for i in range(0, len(x), batch):
            opt.zero_grad()
            loss_fn(model(x[i : i + batch]), y[i : i + batch]).backward()
            opt.step()
    dist.barrier()
    return time.perf_counter() - started


def _torchrun_worker(cfg_json: str, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    seconds = _loop(json.loads(cfg_json), DistributedDataParallel)
    if dist.get_rank() == 0:
        Path(out).write_text(json.dumps({"loop": seconds}))
    dist.destroy_process_group()


def _ray_worker(cfg: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    seconds = _loop(cfg, ray.train.torch.prepare_model)
    if ray.train.get_context().get_world_rank() == 0:  # one machine: a file reaches the driver
        Path(cfg["out"]).write_text(json.dumps({"loop": seconds}))


def ddp_torchrun(cfg: dict[str, Any], work: Path) -> dict[str, float]:
    out = work / "torchrun.json"
    torchrun = Path(sys.executable).parent / "torchrun"
    argv = [str(torchrun), "--standalone", "--nproc-per-node", str(cfg["workers"]), __file__,
            "--torchrun-worker", json.dumps(cfg), str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    if proc.returncode:
        raise SystemExit(f"torchrun failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    wall = time.perf_counter() - started
    return {"wall": wall, "loop": json.loads(out.read_text())["loop"]}


def ddp_ray(cfg: dict[str, Any], work: Path) -> dict[str, float]:
    """TorchTrainer in a Ray already started (its start is not the trainer's to pay per job)."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    out = work / "ray.json"
    started = time.perf_counter()
    trainer = TorchTrainer(
        _ray_worker,
        train_loop_config={**cfg, "out": str(out)},
        scaling_config=ScalingConfig(num_workers=cfg["workers"], resources_per_worker={"CPU": 1}),
        run_config=RunConfig(name=f"ddp-{time.time_ns()}", storage_path=str(work / "ray")),
    )
    trainer.fit()
    return {"wall": time.perf_counter() - started, "loop": json.loads(out.read_text())["loop"]}


def _ray_init(cpus: int) -> float:
    import ray

    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)  # fmt: skip
    return time.perf_counter() - started


def part_ddp(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    cfg = {"rows": args.rows, "features": 32, "width": args.width, "batch": 256,
           "epochs": args.epochs, "workers": 2}  # fmt: skip
    ray_start = _ray_init(2)
    runs: dict[str, list[dict[str, float]]] = {"torchrun": [], "ray": []}
    for _ in range(args.repeat):
        runs["torchrun"].append(ddp_torchrun(cfg, work))
        runs["ray"].append(ddp_ray(cfg, work))
    summary = {k: {m: median([r[m] for r in v]) for m in ("wall", "loop")} for k, v in runs.items()}
    return {
        "part": "ddp", "config": cfg, "rayStartSeconds": round(ray_start, 3), "runs": runs,
        "median": summary,
        "overheadWall": round(summary["ray"]["wall"] / summary["torchrun"]["wall"] - 1, 3),
        "overheadLoop": round(summary["ray"]["loop"] / summary["torchrun"]["loop"] - 1, 3),
    }  # fmt: skip


# --------------------------------------------------------------------------------------------
# tune: many short trials against the ideal


def _sleep_trial(config: dict[str, Any]) -> dict[str, float]:
    time.sleep(config["seconds"])
    return {"score": config["x"]}


def part_tune(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import ray
    from ray import tune

    ray_start = _ray_init(2)
    parallel = int(ray.cluster_resources().get("CPU", 1))
    walls = []
    for _ in range(args.repeat):
        tuner = tune.Tuner(
            tune.with_resources(_sleep_trial, {"CPU": 1}),
            param_space={"x": tune.uniform(0, 1), "seconds": args.trial_seconds},
            tune_config=tune.TuneConfig(num_samples=args.trials, max_concurrent_trials=parallel,
                                        metric="score", mode="max",
                                        reuse_actors=args.reuse_actors),
            run_config=tune.RunConfig(name=f"tune-{time.time_ns()}",
                                      storage_path=str(work / "tune"), verbose=0),
        )  # fmt: skip
        started = time.perf_counter()
        grid = tuner.fit()
        walls.append(time.perf_counter() - started)
        assert len(grid) == args.trials and not grid.errors
    ideal = args.trials * args.trial_seconds / parallel
    wall = median(walls)
    return {
        "part": "tune", "trials": args.trials, "trialSeconds": args.trial_seconds,
        "reuseActors": args.reuse_actors,
        "parallel": parallel, "rayStartSeconds": round(ray_start, 3), "walls": walls,
        "median": wall, "ideal": ideal, "overhead": round(wall / ideal - 1, 3),
        "perTrialOverheadSeconds": round((wall - ideal) * parallel / args.trials, 3),
    }  # fmt: skip


# --------------------------------------------------------------------------------------------
# asha: the trainer's tuning with and without ASHA, same trials


def _tuning_manifest(scheduler: str | None, args: argparse.Namespace) -> dict[str, Any]:
    tuning: dict[str, Any] = {
        "algorithm": "grid",
        "searchSpace": {
            "learningRate": {"type": "choice", "values": args.learning_rates},
            "hidden_units": {"type": "choice", "values": [[16], [64, 32]]},
        },
        "parallelTrials": 2,
        "maxTrials": 2 * len(args.learning_rates),  # every combination of the grid
        "seed": 3,
    }
    if scheduler:
        tuning |= {"scheduler": scheduler, "gracePeriod": 1}
    return {
        "apiVersion": "kubetrain.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": f"asha-{scheduler or 'none'}"},
        "spec": {
            "problem": {"task": "classification", "target": "target",
                        "objective": {"metric": "accuracy", "direction": "maximize"}},
            "data": {"dataset": args.tuning_dataset},
            "model": {"builtin": {"name": "mlp"},
                      "training": {"epochs": args.tune_epochs, "batchSize": 16}},
            "tuning": tuning,
        },
    }  # fmt: skip


def _tuning_run(scheduler: str | None, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import yaml

    manifest = work / f"asha-{scheduler or 'none'}.yaml"
    manifest.write_text(yaml.safe_dump(_tuning_manifest(scheduler, args)))
    out = work / f"out-{scheduler or 'none'}"
    argv = [sys.executable, "-c", "from kubetrain.cli import main; main()", "run",
            str(manifest), "-q", "--output", str(out)]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if proc.returncode:
        raise SystemExit(f"kubetrain run failed:\n{proc.stderr[-3000:]}")
    wall = time.perf_counter() - started
    (trials_file,) = out.rglob("trials.json")
    trials = json.loads(trials_file.read_text())
    scores = [t["objective"] for t in trials if t.get("objective") is not None]
    return {
        "wall": round(wall, 3), "trials": len(trials), "epochs": sum(t["epochs"] for t in trials),
        "best": max(scores), "perTrial": [[t["epochs"], t["objective"]] for t in trials],
    }  # fmt: skip


def part_asha(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import ray

    ray.shutdown()  # `kubetrain run` starts its own; two Rays on 2 cores would skew both
    full = _tuning_run(None, args, work)
    asha = _tuning_run("asha", args, work)
    reached = asha["best"] >= full["best"] - args.tolerance
    return {
        "part": "asha", "full": full, "asha": asha, "tolerance": args.tolerance,
        "sameBest": reached,
        "computeRatio": round(asha["epochs"] / full["epochs"], 3) if reached else None,
    }  # fmt: skip


# --------------------------------------------------------------------------------------------


def print_table(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        if r["part"] == "ddp":
            m = r["median"]
            rows.append(
                [
                    "Ray Train vs torchrun DDP, wall",
                    f"{m['ray']['wall']:.2f} s",
                    f"{m['torchrun']['wall']:.2f} s",
                    f"{r['overheadWall']:+.1%}",
                    "<= +3%",
                ]
            )
            rows.append(
                [
                    "Ray Train vs torchrun DDP, loop",
                    f"{m['ray']['loop']:.2f} s",
                    f"{m['torchrun']['loop']:.2f} s",
                    f"{r['overheadLoop']:+.1%}",
                    "<= +3%",
                ]
            )
        elif r["part"] == "tune":
            reuse = "reused actors" if r["reuseActors"] else "an actor per trial"
            rows.append(
                [
                    f"Ray Tune, {r['trials']} trials of {r['trialSeconds']} s, {reuse}",
                    f"{r['median']:.2f} s",
                    f"{r['ideal']:.2f} s (ideal)",
                    f"{r['overhead']:+.1%}",
                    "<= +10%",
                ]
            )
        else:
            ratio = (
                "n/a (best not reached)"
                if r["computeRatio"] is None
                else f"{r['computeRatio']:.2f}"
            )
            rows.append(
                [
                    f"ASHA vs full search, epochs (best {r['asha']['best']:.3f} vs "
                    f"{r['full']['best']:.3f})",
                    str(r["asha"]["epochs"]),
                    str(r["full"]["epochs"]),
                    ratio,
                    "<= 0.33",
                ]
            )
    headers = ["measure", "kubetrain's framework", "baseline", "overhead / ratio", "target"]
    print(table(headers, rows))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--part", action="append", choices=["ddp", "tune", "asha"])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--trial-seconds", type=float, default=1.0)
    p.add_argument(
        "--reuse-actors",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Tune's reuse_actors (the trainer's setting); --no-reuse-actors: "
        "Ray's default, a new actor process per trial",
    )
    p.add_argument("--tune-epochs", type=int, default=27)
    p.add_argument("--tuning-dataset", default="wine",
                   help="asha: a built-in classification data set (wine, digits)")  # fmt: skip
    p.add_argument("--learning-rates", type=float, nargs="+",
                   default=[0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03])  # fmt: skip
    p.add_argument("--tolerance", type=float, default=0.0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "trainer.json")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, once (for the tests)")
    p.add_argument("--torchrun-worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.repeat, args.rows, args.width, args.epochs = 1, 512, 16, 1
        args.trials, args.trial_seconds, args.tune_epochs = 4, 0.1, 3
        args.learning_rates = [0.001, 0.01]
    args.part = args.part or ["ddp", "tune", "asha"]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.torchrun_worker:
        _torchrun_worker(*args.torchrun_worker)
        return {}
    info = machine()
    parts = {"ddp": part_ddp, "tune": part_tune, "asha": part_asha}
    with tempfile.TemporaryDirectory(prefix="kubetrain-trainer-bench-") as tmp:
        results = [parts[name](args, Path(tmp)) for name in args.part]
    print_table(results)
    result = {"benchmark": "trainer", "machine": info, "targets": TARGETS, "parts": results}
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
