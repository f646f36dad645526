"""A generated tabular data set written as many Parquet files (issue 12's tests and benchmark).

Rows: four numeric features (one with 2% missing values), one categorical (`color`), a binary
label (`label`, yes/no, from a noisy linear rule of a, b and color) and a numeric target
(`amount`). Learnable to about 0.9 accuracy, so a model that trained on every shard scores well
and one that missed rows or mixed shards does not stand out by luck.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


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
