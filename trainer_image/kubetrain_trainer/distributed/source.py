"""Ray Data reading: the files of a data source as a streamed Ray Dataset, split by row hash.

`open_source(source, s3)` lists the files under each URI (an object or a prefix of many files,
on S3 or local disk) through one pyarrow file system, and returns a `Source`: the lazy Ray
Datasets of the training, validation and test splits, plus what was listed (files, bytes, a
fingerprint). Nothing is read on the driver: Ray Data reads blocks on the cluster's workers.

Splits: with one file set, each row's split is decided by a hash of its own values
(`pandas.util.hash_pandas_object`), so the assignment is deterministic, independent of block
boundaries and of the number of workers, and identical rows land in the same split. The
fingerprint covers every file's path, size and modification time rather than its bytes: hashing
the bytes would read a data set bigger than one machine twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kubetrain_trainer.data.load import DataSource
from kubetrain_trainer.errors import DataError
from kubetrain_trainer.runtime.storage import S3Settings

SPLIT_COLUMN = "__kubetrain_split"
HASH_COLUMN = "__kubetrain_row_hash"
_BUCKETS = 10_000
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Source:
    train: Any  # ray.data.Dataset
    validation: Any | None
    test: Any | None
    format: str
    tagged: Any = None  # every row of every split, its split in SPLIT_COLUMN
    schema: Any = None  # the files' own columns (Arrow), known without reading the rows
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    fingerprint: str = ""

    @property
    def description(self) -> str:
        return f"{len(self.files)} {self.format} file(s), {self.bytes} bytes, read with Ray Data"


def filesystem(uri: str, s3: S3Settings | None) -> tuple[Any, str]:
    """(pyarrow file system, path in it) of a `s3://bucket/key` URI or a local path."""
    import pyarrow.fs

    if not uri.startswith("s3://"):
        return pyarrow.fs.LocalFileSystem(), uri
    settings = s3 or S3Settings.from_env()
    scheme, _, host = (settings.endpoint or "").partition("://")
    fs = pyarrow.fs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        region=settings.region,
        endpoint_override=host or None,
        scheme=scheme or "https",
    )
    return fs, uri.removeprefix("s3://").rstrip("/")


def list_files(uri: str, s3: S3Settings | None, declared: str | None) -> tuple[Any, list[Any]]:
    """The data files at `uri` (itself, or every data file below it), sorted by path."""
    import pyarrow.fs

    fs, path = filesystem(uri, s3)
    try:
        info = fs.get_file_info(path)
        if info.type == pyarrow.fs.FileType.Directory or uri.endswith("/"):
            infos = fs.get_file_info(pyarrow.fs.FileSelector(path, recursive=True))
        else:
            infos = [info]
    except OSError as exc:
        raise DataError(f"data.source.uri {uri}: cannot list it ({exc}).") from exc
    files = sorted(
        (i for i in infos if i.type == pyarrow.fs.FileType.File and _wanted(i.path, declared)),
        key=lambda i: i.path,
    )
    if not files:
        raise DataError(f"data.source.uri {uri}: no CSV or Parquet files there.")
    return fs, files


def _wanted(path: str, declared: str | None) -> bool:
    name = path.rsplit("/", 1)[-1]
    if name.startswith((".", "_")):  # _SUCCESS, .crc and other markers
        return False
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return declared is not None or suffix in _SUFFIXES


def format_of(files: list[Any], declared: str | None) -> str:
    if declared:
        return declared
    found = {_SUFFIXES.get("." + f.path.rsplit(".", 1)[-1].lower()) for f in files}
    if len(found) != 1 or None in found:
        raise DataError(
            "data.source.format: the files mix formats or have no .csv/.parquet suffix; "
            "declare the format."
        )
    return str(found.pop())


def read(uri: str, s3: S3Settings | None, declared: str | None) -> tuple[Any, str, list[Any]]:
    """A lazy Ray Dataset over the files at `uri`, its format and the files."""
    import ray.data

    fs, files = list_files(uri, s3, declared)
    fmt = format_of(files, declared)
    paths = [f.path for f in files]
    if fmt == "parquet":
        return ray.data.read_parquet(paths, filesystem=fs), fmt, files
    if fmt == "csv":
        return ray.data.read_csv(paths, filesystem=fs), fmt, files
    raise DataError(f"data.source.format: {fmt} cannot be read with Ray Data (csv or parquet).")


def row_hashes(batch: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's values (not its position)."""
    values = batch.drop(columns=[c for c in (SPLIT_COLUMN, HASH_COLUMN) if c in batch.columns])
    hashes: np.ndarray = pd.util.hash_pandas_object(values, index=False).to_numpy(np.uint64)
    return hashes


class AssignSplit:
    """map_batches: a split per row from its hash: 0 train, 1 validation, 2 test."""

    def __init__(self, validation: float, test: float, seed: int) -> None:
        self.test_cut = round(test * _BUCKETS)
        self.validation_cut = self.test_cut + round(validation * _BUCKETS)
        self.seed = np.uint64(seed)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        hashes = row_hashes(batch)
        bucket = ((hashes ^ self.seed) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        bucket = bucket % np.uint64(_BUCKETS)
        split = np.where(bucket < self.test_cut, 2, np.where(bucket < self.validation_cut, 1, 0))
        out = batch.copy()
        out[SPLIT_COLUMN] = split.astype(np.int8)
        out[HASH_COLUMN] = hashes
        return out


def _only(split: int) -> Any:
    def keep(batch: pd.DataFrame) -> pd.DataFrame:
        return batch[batch[SPLIT_COLUMN] == split].drop(columns=[SPLIT_COLUMN])

    return keep


class _Tag:
    """map_batches: every row of a separately given file set in one split."""

    def __init__(self, split: int) -> None:
        self.split = split

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = batch.copy()
        out[SPLIT_COLUMN] = np.int8(self.split)
        out[HASH_COLUMN] = row_hashes(batch)
        return out


def open_source(
    source: DataSource, s3: S3Settings | None, validation: float, test: float, seed: int
) -> Source:
    """The training, validation and test Datasets of `source`, each row carrying its hash."""
    assert source.uri is not None
    data, fmt, files = read(source.uri, s3, source.format)
    listed = list(files)
    present = [0]
    if source.validation_uri or source.test_uri:
        tagged = data.map_batches(_Tag(0), batch_format="pandas")
        for index, uri in ((1, source.validation_uri), (2, source.test_uri)):
            if uri:
                other, _, more = read(uri, s3, source.format)
                listed += more
                present.append(index)
                tagged = tagged.union(other.map_batches(_Tag(index), batch_format="pandas"))
    else:
        tagged = data.map_batches(AssignSplit(validation, test, seed), batch_format="pandas")
        present += [i for i, share in ((1, validation), (2, test)) if share > 0]
    splits = {
        name: tagged.map_batches(_only(index), batch_format="pandas")
        for index, name in enumerate(("train", "validation", "test"))
        if index in present
    }
    digest = hashlib.sha256()
    for f in listed:
        digest.update(f"{f.path}\0{f.size}\0{f.mtime_ns}\n".encode())
    return Source(
        train=splits["train"],
        validation=splits.get("validation"),
        test=splits.get("test"),
        format=fmt,
        tagged=tagged,
        schema=data.schema(),
        files=[f.path for f in listed],
        bytes=int(sum(f.size for f in listed)),
        fingerprint=digest.hexdigest(),
    )
