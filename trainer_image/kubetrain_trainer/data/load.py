"""Stage 1, data: load the declared data and fingerprint exactly what was read.

Input is a `DataSource`: either a built-in offline dataset (`LOADERS`) or URIs of a
training file and optional validation/test files (CSV, Parquet, JSON lines), on S3 or local disk
(`kubetrain run`), each an object/file or a prefix/directory whose files are read together.
Output is a `LoadedData` with pandas frames and `content_hash`, the SHA-256 over the bytes of every
file read (for built-ins: over a canonical serialisation of the frame), recorded in the metadata
so that two runs can be compared and a resumed attempt can check it still sees the same data.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kubetrain.api.catalogue import DatasetInfo
from kubetrain_trainer.errors import DataError
from kubetrain_trainer.runtime.storage import S3Settings, open_storage, split_uri

FORMATS = ("csv", "parquet", "json", "jsonl")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class DataSource:
    dataset: str | None = None
    uri: str | None = None
    validation_uri: str | None = None
    test_uri: str | None = None
    format: str | None = None  # inferred from the file suffix when absent


@dataclass
class LoadedData:
    train: pd.DataFrame  # everything, when no separate validation/test files were given
    validation: pd.DataFrame | None
    test: pd.DataFrame | None
    content_hash: str
    description: str
    info: DatasetInfo | None = None  # only for built-ins: the API catalogue's entry
    bytes_read: int = 0
    files: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Built-in offline datasets


def _sklearn(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from sklearn import datasets

        frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        return frame.reset_index(drop=True)

    return load


def _co2() -> pd.DataFrame:
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data  # 2284 weeks, 59 of them missing
    return pd.DataFrame({"date": weekly.index, "co2": weekly["co2"].to_numpy()})


def _sunspots() -> pd.DataFrame:
    import statsmodels.api as sm

    data = sm.datasets.sunspots.load_pandas().data
    return pd.DataFrame(
        {"YEAR": data["YEAR"].astype(int).to_numpy(), "SUNACTIVITY": data["SUNACTIVITY"].to_numpy()}
    )


_POSITIVE = [
    "great", "excellent", "wonderful", "delightful", "superb", "enjoyable", "brilliant",
    "pleasant", "charming", "fantastic", "solid", "lovely",
]  # fmt: skip
_NEGATIVE = [
    "awful", "terrible", "boring", "dreadful", "poor", "disappointing", "bland", "clumsy",
    "tedious", "mediocre", "annoying", "weak",
]  # fmt: skip
_SUBJECTS = [
    "the film", "this movie", "the plot", "the acting", "the soundtrack", "the ending",
    "the dialogue", "the pacing", "the cast", "the story", "the camera work", "the script",
]  # fmt: skip
_FILLERS = [
    "honestly", "overall", "to be fair", "in my opinion", "frankly", "all in all", "", "",
]  # fmt: skip
_INTENSIFIERS = ["", "really", "very", "quite", "truly", "rather", "extremely", ""]


def _sentiment_mini(n: int = 1600, seed: int = 7) -> pd.DataFrame:
    """A small, generated binary sentiment set (movie-review style sentences).

    A quarter of the clauses are negated ("was not great"), which single words get wrong and
    word pairs get right; one review in eight has two clauses of opposite polarity where the
    second ("... but ...") decides, which no bag of words solves; 3% of labels are flipped.
    A good model lands around 90% accuracy, not 100%.
    """
    rng = np.random.default_rng(seed)

    def pick(pool: list[str]) -> str:
        return pool[rng.integers(len(pool))]

    def clause(positive: bool) -> str:
        subj = pick(_SUBJECTS)
        if rng.random() < 0.25:
            return f"{subj} was not {pick(_NEGATIVE if positive else _POSITIVE)}"
        inten = pick(_INTENSIFIERS)
        adj = pick(_POSITIVE if positive else _NEGATIVE)
        return " ".join(w for w in (subj, "was", inten, adj) if w)

    texts, labels = [], []
    for _ in range(n):
        label = int(rng.random() < 0.5)
        if rng.random() < 0.125:
            text = f"{clause(not bool(label))} but {clause(bool(label))}"
        else:
            text = clause(bool(label))
        filler = pick(_FILLERS)
        if filler:
            text = f"{filler}, {text}"
        if rng.random() < 0.03:
            label = 1 - label
        texts.append(text)
        labels.append(label)
    return pd.DataFrame({"text": texts, "label": labels})


LOADERS: dict[str, Callable[[], pd.DataFrame]] = {
    "iris": _sklearn("iris"),
    "wine": _sklearn("wine"),
    "breast-cancer": _sklearn("breast_cancer"),
    "diabetes": _sklearn("diabetes"),
    "digits": _sklearn("digits"),
    "co2": _co2,
    "sunspots": _sunspots,
    "sentiment-mini": _sentiment_mini,
}
"""How each dataset of the API's catalogue (`kubetrain.api.catalogue.DATASETS`: targets, time
and text columns, image shapes) is loaded; a test checks that both name the same datasets."""


def builtin_info(name: str) -> DatasetInfo:
    """The catalogue's entry for a built-in dataset (`breast_cancer` spelled either way)."""
    from kubetrain.api.catalogue import DATASETS

    key = name.replace("_", "-")
    if key not in LOADERS:
        known = ", ".join(sorted(LOADERS))
        raise DataError(f"unknown built-in dataset {name!r}; known datasets: {known}.")
    return DATASETS[key]  # type: ignore[index]


def frame_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Files


def _format_of(uri: str, declared: str | None) -> str:
    if declared:
        fmt = declared.lower()
    else:
        suffix = uri.lower().rsplit(".", 1)[-1] if "." in uri.rsplit("/", 1)[-1] else ""
        fmt = {"csv": "csv", "parquet": "parquet", "pq": "parquet", "json": "json"}.get(
            suffix, {"jsonl": "jsonl", "ndjson": "jsonl", "tsv": "csv"}.get(suffix, "csv")
        )
    if fmt not in FORMATS:
        raise DataError(f"unsupported data format {fmt!r} for {uri}; use one of {FORMATS}.")
    return fmt


def _parse(path: Path, fmt: str, uri: str) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"the data file {uri} is empty (0 bytes).")
    try:
        if fmt == "csv":
            sep = "\t" if uri.lower().endswith(".tsv") else ","
            frame = pd.read_csv(path, sep=sep)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "jsonl":
            frame = pd.read_json(path, lines=True)
        else:
            try:
                frame = pd.read_json(path)
            except ValueError:
                frame = pd.read_json(path, lines=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"the data file {uri} has no rows or columns.") from exc
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"the data file {uri} cannot be read as {fmt}: {first}") from exc
    if frame.empty:
        raise DataError(f"the data file {uri} has a header but no rows.")
    return frame


def _is_data(name: str) -> bool:
    """Not a folder marker nor a writer's bookkeeping file (Spark's _SUCCESS, .crc files)."""
    base = name.rsplit("/", 1)[-1]
    return bool(base) and base[0] not in "._"


def _read_file(
    uri: str, fmt: str | None, s3: S3Settings | None, workdir: Path
) -> tuple[pd.DataFrame, str, int]:
    """One object, or every object under a prefix (in name order, concatenated)."""
    root, name = split_uri(uri)
    storage = open_storage(root, s3)
    names = [name]
    if not storage.exists(name):
        names = [f"{name}/{n}" for n in storage.child(name).list("") if _is_data(n)]
        if not names:
            raise DataError(f"the data {uri} does not exist (no object, no objects under it).")
    frames, digest, size = [], hashlib.sha256(), 0
    for part in names:
        local = workdir / f"{len(list(workdir.iterdir()))}-{part.rsplit('/', 1)[-1] or 'data'}"
        storage.download_file(part, local)
        with local.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        frames.append(_parse(local, _format_of(part if fmt is None else uri, fmt), uri))
        size += local.stat().st_size
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame, digest.hexdigest(), size


def load(source: DataSource, s3: S3Settings | None = None) -> LoadedData:
    """Load the declared data. Raises `DataError` with a message that names the problem."""
    if source.dataset:
        info = builtin_info(source.dataset)
        frame = LOADERS[source.dataset.replace("_", "-")]()
        return LoadedData(
            train=frame,
            validation=None,
            test=None,
            content_hash=frame_hash(frame),
            description=f"built-in dataset {source.dataset} ({len(frame)} rows)",
            info=info,
        )
    if not source.uri:
        raise DataError("the spec declares no data: set data.dataset or data.source.uri.")
    digest = hashlib.sha256()
    frames: dict[str, pd.DataFrame | None] = {}
    total = 0
    files = []
    with tempfile.TemporaryDirectory(prefix="kubetrain-data-") as tmp:
        for role, uri in (
            ("train", source.uri),
            ("validation", source.validation_uri),
            ("test", source.test_uri),
        ):
            if not uri:
                frames[role] = None
                continue
            frame, file_hash, size = _read_file(uri, source.format, s3, Path(tmp))
            digest.update(f"{role}:{file_hash}\n".encode())
            frames[role] = frame
            total += size
            files.append(uri)
    train = frames["train"]
    assert train is not None
    return LoadedData(
        train=train,
        validation=frames["validation"],
        test=frames["test"],
        content_hash=digest.hexdigest(),
        description=f"{source.uri} ({len(train)} rows)",
        bytes_read=total,
        files=files,
    )


def check_target(frame: pd.DataFrame, target: str, task: str, where: str = "the data") -> None:
    """Fail early, with the column list, when the target cannot be learned as declared."""
    if target not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:20]))
        raise DataError(
            f"the target column {target!r} is not in {where}; its columns are: {cols}. "
            "Set spec.problem.target to one of them."
        )
    values = frame[target].dropna()
    if values.empty:
        raise DataError(f"the target column {target!r} in {where} has no values.")
    if task in ("regression", "forecasting"):
        numeric = pd.to_numeric(values, errors="coerce")
        bad = values[numeric.isna()]
        if not bad.empty:
            raise DataError(
                f"the target column {target!r} must be numeric for {task}, but it holds "
                f"non-numeric values such as {bad.iloc[0]!r} ({len(bad)} of {len(values)} rows). "
                "Use task: classification for labels, or clean the column."
            )


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()
