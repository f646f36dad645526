"""Stage 1: built-in datasets, files, prefixes, content hashes and the data errors users see."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kubetrain_trainer.data.load import LOADERS, DataSource, builtin_info, check_target, load
from kubetrain_trainer.errors import DataError


@pytest.mark.parametrize(
    ("name", "rows", "target"),
    [
        ("iris", 150, "target"),
        ("wine", 178, "target"),
        ("breast-cancer", 569, "target"),
        ("digits", 1797, "target"),
        ("diabetes", 442, "target"),
        ("co2", 2284, "co2"),
        ("sunspots", 309, "SUNACTIVITY"),
        ("sentiment-mini", 1600, "label"),
    ],
)
def test_builtin_datasets_load_offline_with_their_catalogue_target(
    name: str, rows: int, target: str
) -> None:
    data = load(DataSource(dataset=name))
    assert len(data.train) == rows
    assert target in data.train.columns
    assert builtin_info(name).target == target
    assert len(data.content_hash) == 64


def test_the_api_catalogue_and_the_trainer_agree_on_datasets() -> None:
    from kubetrain.api import DATASETS

    assert set(LOADERS) == {str(name) for name in DATASETS}
    for name, info in DATASETS.items():
        frame = load(DataSource(dataset=str(name))).train
        assert info.target in frame.columns
        if info.time_column:
            assert info.time_column in frame.columns


def test_content_hash_is_stable_and_changes_with_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    first = load(DataSource(uri=str(path))).content_hash
    assert load(DataSource(uri=str(path))).content_hash == first
    path.write_text("a,b\n1,2\n3,5\n")
    assert load(DataSource(uri=str(path))).content_hash != first
    assert (
        load(DataSource(dataset="iris")).content_hash
        == load(DataSource(dataset="iris")).content_hash
    )


def test_parquet_and_a_prefix_of_several_csv_objects(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    frame.to_parquet(tmp_path / "d.parquet")
    assert load(DataSource(uri=str(tmp_path / "d.parquet"))).train.equals(frame)
    (tmp_path / "parts").mkdir()
    frame.iloc[:2].to_csv(tmp_path / "parts" / "a.csv", index=False)
    frame.iloc[2:].to_csv(tmp_path / "parts" / "b.csv", index=False)
    loaded = load(DataSource(uri=str(tmp_path / "parts"), format="csv"))
    assert loaded.train["x"].tolist() == [1.0, 2.0, 3.0]


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        load(DataSource(uri=str(tmp_path / "empty.csv")))
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="no rows"):
        load(DataSource(uri=str(tmp_path / "header.csv")))


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"\x00\x01 not parquet at all")
    with pytest.raises(DataError, match="cannot be read as parquet"):
        load(DataSource(uri=str(tmp_path / "bad.parquet")))
    with pytest.raises(DataError, match="does not exist"):
        load(DataSource(uri=str(tmp_path / "missing.csv")))


def test_missing_target_names_the_columns() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2]})
    with pytest.raises(DataError, match=r"'label' is not in .*columns are: a, b"):
        check_target(frame, "label", "classification")


def test_non_numeric_regression_target_is_refused() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "price": ["1.5", "cheap", "3"]})
    with pytest.raises(DataError, match=r"must be numeric for regression.*'cheap'"):
        check_target(frame, "price", "regression")
    check_target(frame, "price", "classification")  # labels may be anything
