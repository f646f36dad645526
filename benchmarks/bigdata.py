"""Benchmark of issue 12: rows/s and peak memory per worker for 1, 2, 3 Ray Data workers.

Writes a generated data set (tests/support/bigdata.py) as many Parquet files, then trains the
built-in MLP on it through the Ray Data path (`kubetrain_trainer.distributed.pipeline`) with
each worker count, under a per-worker memory limit several times smaller than the data set
(`compute.resources.memory`: the streamed batches are sized to it). For each run: training
throughput (training rows x epochs ÷ training seconds), the stages' seconds, rows and bytes per
worker and each worker's peak RSS; the scaling efficiency is throughput(N) ÷ (N x throughput(1)).
Prints a table and writes JSON. On demand only (a unit test runs the smoke size):

    .venv/bin/python benchmarks/bigdata.py --rows-per-file 20000 --files 24 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, from a checkout


def _spec(uri: str, workers: int, memory: int, epochs: int) -> dict[str, Any]:
    return {
        "problem": {"task": "classification", "target": "label",
                    "objective": {"metric": "accuracy"}},
        "data": {"source": {"uri": uri, "format": "parquet"}},
        "preparation": {"split": {"validation": 0.1, "test": 0.2, "seed": 3},
                        "features": {"exclude": ["amount"]}},
        "model": {"builtin": {"name": "mlp", "hyperparameters": {"hidden_units": [32]}},
                  "training": {"epochs": epochs, "batchSize": 256, "learningRate": 0.01}},
        "compute": {"workers": workers, "resources": {"cpu": "1", "memory": str(memory)}},
    }  # fmt: skip


def run_once(uri: str, workers: int, memory: int, epochs: int, out: Path) -> dict[str, Any]:
    from tests.support.trainer import config_of

    from kubetrain.api.data import local_data_allowed
    from kubetrain_trainer.distributed import RAY_DATA, DataPath
    from kubetrain_trainer.distributed.pipeline import run
    from kubetrain_trainer.runtime.context import RunContext
    from kubetrain_trainer.runtime.storage import LocalStorage

    with local_data_allowed():
        config = config_of(_spec(uri, workers, memory, epochs))
    context = RunContext(job=f"bench-{workers}", namespace="bench", attempt="1",
                         output=LocalStorage(out), echo_progress=False)  # fmt: skip
    # One worker too goes through Ray Data here: the comparison is of the same path.
    result = run(config, context, DataPath(RAY_DATA, f"benchmark, {workers} worker(s)"))
    meta = result.metadata
    seconds = meta["durations"]["training"]
    rows = sum(w["rows"] for w in meta["data"]["workers"])
    return {
        "workers": workers,
        "trainRowsPerSecond": rows * epochs / seconds if seconds else None,
        "durations": meta["durations"],
        "accuracy": result.evaluation.test["accuracy"],
        "perWorker": [
            {k: w[k] for k in ("rank", "rows", "bytes", "peakRssBytes", "dataPeakBytes")}
            for w in meta["data"]["workers"]
        ],
    }


def efficiency(runs: list[dict[str, Any]]) -> None:
    base = runs[0]["trainRowsPerSecond"] if runs and runs[0]["workers"] == 1 else None
    for entry in runs:
        rate = entry["trainRowsPerSecond"]
        entry["scalingEfficiency"] = rate / (entry["workers"] * base) if base and rate else None


def table(runs: list[dict[str, Any]], data_bytes: int, memory: int) -> str:
    lines = [
        f"data set: {data_bytes / 2**20:.1f} MiB in memory; worker memory limit "
        f"{memory / 2**20:.1f} MiB ({data_bytes / memory:.1f}x smaller)",
        "| workers | train rows/s | efficiency | read+statistics s | train s | eval s "
        "| rows per worker | peak RSS per worker (MiB) | accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        d, per = r["durations"], r["perWorker"]
        eff = r["scalingEfficiency"]
        rss = ", ".join(f"{w['peakRssBytes'] / 2**20:.0f}" for w in per)
        lines.append(
            f"| {r['workers']} | {r['trainRowsPerSecond']:.0f} | "
            f"{'—' if eff is None else f'{eff:.2f}'} | {d['data+preparation']:.1f} "
            f"| {d['training']:.1f} | {d['evaluation']:.1f} | "
            f"{', '.join(str(w['rows']) for w in per)} | "
            f"{rss} | "
            f"{r['accuracy']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--rows-per-file", type=int, default=20000)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--limit-fraction", type=float, default=0.25,
        help="worker memory limit as a fraction of the data set's size",
    )  # fmt: skip
    parser.add_argument("--cpus", type=int, default=None, help="local Ray's CPUs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import ray
    from tests.support.bigdata import frame, write_local

    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    with tempfile.TemporaryDirectory(prefix="kubetrain-bigdata-") as tmp:
        parts = Path(tmp) / "parts"
        write_local(parts, args.files, args.rows_per_file)
        sample = frame(args.rows_per_file, 0)
        data_bytes = int(sample.memory_usage(deep=True).sum()) * args.files
        memory = int(data_bytes * args.limit_fraction)
        if not ray.is_initialized():
            ray.init(num_cpus=args.cpus, include_dashboard=False, configure_logging=False,
                     log_to_driver=False)  # fmt: skip
        runs = []
        for n in (int(w) for w in args.workers.split(",")):
            started = time.monotonic()
            runs.append(run_once(str(parts), n, memory, args.epochs, Path(tmp) / f"out-{n}"))
            runs[-1]["wallSeconds"] = round(time.monotonic() - started, 3)
    efficiency(runs)
    report = {"dataBytes": data_bytes, "memoryLimitBytes": memory, "rows":
              args.files * args.rows_per_file, "epochs": args.epochs, "runs": runs}  # fmt: skip
    print(table(runs, data_bytes, memory))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
