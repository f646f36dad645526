#!/usr/bin/env python3
"""Benchmark 3 of issue 11: the trainer's S3 storage layer against raw boto3 s3transfer.

On one SeaweedFS (a private one started for the run, the same as `kubetrain run`'s store, or
--endpoint with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), each operation is timed through the
trainer and through boto3's own s3transfer with default settings, interleaved, --repeat times:

  data load         `S3Storage.download_file` of a CSV object and the sha256 the data stage
                    takes of it  vs  `client.download_file` (s3transfer)
  checkpoint save   `CheckpointStore.save` of a torch state dict (serialise, upload, pointer)
                    vs  `torch.save` into memory and `client.upload_fileobj` (s3transfer)
  checkpoint load   `CheckpointStore.latest` (find the pointer, download, `torch.load`)
                    vs  `client.download_fileobj` and `torch.load`

Throughput is the object's size over the median time; the ratio is trainer / raw (target
>= 90%).

    .venv/bin/python benchmarks/s3_storage.py                  # 64 MiB data, 64 MiB checkpoint
    .venv/bin/python benchmarks/s3_storage.py --data-mib 256 --checkpoint-mib 128 --repeat 5
    .venv/bin/python benchmarks/s3_storage.py --smoke          # 1 MiB each, once

Results: a table on stdout and JSON (--out). docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_util import machine, median, table, write_json

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.9
MIB = 2**20


@contextmanager
def _store(args: argparse.Namespace) -> Any:
    """(endpoint, access key, secret key, bucket): --endpoint, or a private SeaweedFS."""
    if args.endpoint:
        env = os.environ
        yield args.endpoint, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], args.bucket
        return
    from kubetrain.dev.runstore import RunStore

    with tempfile.TemporaryDirectory(prefix="kubetrain-s3-bench-") as tmp:
        store = RunStore(Path(tmp))
        endpoint, started = store.launch()
        try:
            store.wait(endpoint, started)
            yield endpoint.endpoint, endpoint.access_key, endpoint.secret_key, endpoint.bucket
        finally:
            store.stop()


def _csv_bytes(mib: float) -> bytes:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = max(10, int(mib * MIB / 30))
    values = rng.normal(size=(rows, 4)).round(6)
    text = "a,b,c,d,target\n" + "".join(f"{a},{b},{c},{d},{int(a > 0)}\n" for a, b, c, d in values)
    return text.encode()[: int(mib * MIB)].rsplit(b"\n", 1)[0] + b"\n"


def _state(mib: float) -> dict[str, Any]:
    import torch

    n = int(mib * MIB / 4)
    return {"model": {"weight": torch.randn(n)}, "epoch": 1}


def _time(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch
    from boto3.s3.transfer import TransferConfig  # noqa: F401  (the defaults are what we compare)

    from kubetrain_trainer.runtime.checkpoint import CheckpointStore
    from kubetrain_trainer.runtime.storage import S3Settings, S3Storage

    with _store(args) as (endpoint, key, secret, bucket), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        settings = S3Settings(endpoint, key, secret)
        raw = settings.client()  # the same client settings; s3transfer's default TransferConfig
        prefix = f"s3-bench/{uuid.uuid4().hex[:8]}"
        storage = S3Storage(bucket, prefix, settings)
        data = _csv_bytes(args.data_mib)
        raw.put_object(Bucket=bucket, Key=f"{prefix}/data.csv", Body=data)
        state = _state(args.checkpoint_mib)
        size = len(_serialised(state))
        checkpoints = CheckpointStore(storage.child("job"), "1", "fp", keep=2)
        storage.exists("data.csv")  # both clients made before timing
        operations = ("data load", "checkpoint save", "checkpoint load")
        times: dict[str, dict[str, list[float]]] = {
            o: {"trainer": [], "raw": []} for o in operations
        }

        def trainer_load() -> None:
            local = work / "trainer.csv"
            storage.download_file("data.csv", local)
            digest = hashlib.sha256()
            with local.open("rb") as fh:
                while chunk := fh.read(MIB):
                    digest.update(chunk)

        def raw_load() -> None:
            raw.download_file(bucket, f"{prefix}/data.csv", str(work / "raw.csv"))

        def raw_save() -> None:
            buf = io.BytesIO()
            torch.save(state, buf)
            buf.seek(0)
            raw.upload_fileobj(buf, bucket, f"{prefix}/raw/checkpoint.pt")

        def raw_restore() -> None:
            buf = io.BytesIO()
            raw.download_fileobj(bucket, f"{prefix}/raw/checkpoint.pt", buf)
            buf.seek(0)
            torch.load(buf, map_location="cpu", weights_only=False)

        for epoch in range(1, args.repeat + 1):
            times["data load"]["raw"].append(_time(raw_load))
            times["data load"]["trainer"].append(_time(trainer_load))
            times["checkpoint save"]["raw"].append(_time(raw_save))
            save = times["checkpoint save"]["trainer"]
            save.append(_time(lambda e=epoch: checkpoints.save(state, e)))
            times["checkpoint load"]["raw"].append(_time(raw_restore))
            times["checkpoint load"]["trainer"].append(_time(checkpoints.latest))
        sizes = {"data load": len(data), "checkpoint save": size, "checkpoint load": size}
    return [_row(op, sizes[op], t) for op, t in times.items()]


def _serialised(state: dict[str, Any]) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _row(op: str, size: int, times: dict[str, list[float]]) -> dict[str, Any]:
    trainer, raw = median(times["trainer"]), median(times["raw"])
    return {
        "operation": op,
        "bytes": size,
        "trainerSeconds": trainer,
        "rawSeconds": raw,
        "trainerMiBps": round(size / MIB / trainer, 1),
        "rawMiBps": round(size / MIB / raw, 1),
        "ratio": round(raw / trainer, 3),
        "samples": times,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    headers = ["operation", "MiB", "trainer s", "raw s", "trainer MiB/s", "raw MiB/s", "ratio"]
    body = [
        [r["operation"], f"{r['bytes'] / MIB:.1f}", f"{r['trainerSeconds']:.3f}",
         f"{r['rawSeconds']:.3f}", r["trainerMiBps"], r["rawMiBps"], f"{r['ratio']:.0%}"]
        for r in rows
    ]  # fmt: skip
    print(table(headers, body))
    print(f"(medians; ratio = raw time / trainer time, target >= {TARGET_RATIO:.0%})")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-mib", type=float, default=64)
    p.add_argument("--checkpoint-mib", type=float, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--endpoint", help="an S3 endpoint instead of a private SeaweedFS")
    p.add_argument("--bucket", default="kubetrain")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "s3_storage.json")
    p.add_argument("--smoke", action="store_true", help="1 MiB each, once (for the tests)")
    args = p.parse_args(argv)
    if args.smoke:
        args.data_mib, args.checkpoint_mib, args.repeat = 1, 1, 1
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    info = machine()
    rows = run(args)
    print_table(rows)
    result = {"benchmark": "s3_storage", "machine": info, "targetRatio": TARGET_RATIO,
              "dataMiB": args.data_mib, "checkpointMiB": args.checkpoint_mib,
              "repeat": args.repeat, "operations": rows}  # fmt: skip
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
