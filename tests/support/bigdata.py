"""A generated tabular data set written as many Parquet files (issue 12's tests and benchmark).

Rows: four numeric features (one with 2% missing values), one categorical (`color`), a binary
label (`label`, yes/no, from a noisy linear rule of a, b and color) and a numeric target
(`amount`). Learnable to about 0.9 accuracy, so a model that trained on every shard scores well
and one that missed rows or mixed shards does not stand out by luck.

The shard checks: the training split's rows and row-hash sum computed here in pandas with the
trainer's own split rule, against the per-worker counters in a job's metadata.json.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kubetrain_trainer.distributed.source import AssignSplit


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    color = rng.choice(["red", "green", "blue"], size=rows)
    logit = 2 * x[:, 0] - x[:, 1] + 1.5 * (color == "red") - 0.5
    label = np.where(logit + rng.normal(scale=0.6, size=rows) > 0, "yes", "no")
    data = pd.DataFrame(
        {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "d": x[:, 3], "color": color,
         "label": label, "amount": 3 * logit + 10 + rng.normal(size=rows)}
    )  # fmt: skip
    data.loc[rng.random(rows) < 0.02, "c"] = np.nan
    return data


def write_parts(put: Callable[[str, bytes], object], files: int, rows: int, seed: int = 0) -> int:
    """`files` Parquet files of `rows` rows each, through `put(name, bytes)`; the total bytes."""
    total = 0
    for i in range(files):
        buffer = io.BytesIO()
        frame(rows, seed * 100_003 + i).to_parquet(buffer, index=False)
        put(f"part-{i:04d}.parquet", buffer.getvalue())
        total += len(buffer.getvalue())
    return total


def write_local(directory: Path, files: int, rows: int, seed: int = 0) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    return write_parts(lambda name, data: (directory / name).write_bytes(data), files, rows, seed)


def read_all(directory: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(directory.glob("*.parquet"))])


def parts_frame(files: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """The data set `write_parts` writes, read back through Parquet as the trainer reads it."""
    blobs: list[bytes] = []
    write_parts(lambda name, body: blobs.append(body), files, rows, seed)
    return pd.concat([pd.read_parquet(io.BytesIO(b)) for b in blobs])


def train_split(data: pd.DataFrame, seed: int) -> tuple[int, int]:
    """(rows, sum of row hashes mod 2^64) of the training split (validation 0.2, test 0.2)."""
    tagged = AssignSplit(0.2, 0.2, seed)(data.reset_index(drop=True))
    train = tagged[tagged["__kubetrain_split"] == 0]
    total = int(train["__kubetrain_row_hash"].to_numpy(dtype=np.uint64).sum(dtype=np.uint64))
    return len(train), total


def divisible_seed(data: pd.DataFrame) -> int:
    """A split seed whose training split divides by 2 and 3: Ray Train's equal shards then
    leave no row out, and the per-worker hash sums must add up to the split's exactly."""
    return next(s for s in range(100) if train_split(data, s)[0] % 6 == 0)


def assert_disjoint_complete_shards(
    metadata: dict[str, Any], workers: int, data: pd.DataFrame, seed: int
) -> None:
    """Each worker read an equal, disjoint part of the training split, and together all of it."""
    counters = metadata["data"]["workers"]
    assert [w["rank"] for w in counters] == list(range(workers))
    rows, hashes = train_split(data, seed)
    assert metadata["data"]["rows"]["train"] == rows
    assert [w["rows"] for w in counters] == [rows // workers] * workers
    assert sum(int(w["rowHashSum"]) for w in counters) % 2**64 == hashes
