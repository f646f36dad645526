"""The committed CRD and field reference are exactly what the generator writes, and the CRD is
a structural schema the API server will take."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import ROOT

from kubetrain.api import crdgen
from kubetrain.api.docgen import api_reference

REGENERATE = "run `python -m kubetrain.api.crdgen` and commit the result"


def test_committed_crd_is_generated() -> None:
    assert (ROOT / crdgen.CRD_PATH).read_text() == crdgen.crd_yaml(), REGENERATE


def test_committed_docs_are_generated() -> None:
    assert (ROOT / crdgen.DOCS_PATH).read_text() == api_reference(crdgen.crd()), REGENERATE


@pytest.mark.parametrize("hash_seed", ["1", "2"])
def test_generation_is_deterministic_across_processes(tmp_path: Path, hash_seed: str) -> None:
    """Another interpreter, with another hash seed, writes byte for byte the same files."""
    subprocess.run(
        [sys.executable, "-m", "kubetrain.api.crdgen", "--root", str(tmp_path)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )
    assert (tmp_path / crdgen.CRD_PATH).read_text() == crdgen.crd_yaml()
    assert (tmp_path / crdgen.DOCS_PATH).read_text() == api_reference(crdgen.crd())


def test_generator_writes_both_files(tmp_path: Any) -> None:
    crdgen.main(["--root", str(tmp_path)])
    assert (tmp_path / crdgen.CRD_PATH).read_text() == crdgen.crd_yaml()
    assert (tmp_path / crdgen.DOCS_PATH).read_text().startswith("<!-- Generated")


def nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, child in schema.get("properties", {}).items():
        found += nodes(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += nodes(schema[key], f"{path}[]")
    return found


def openapi_schema() -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / crdgen.CRD_PATH).read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_schema_is_structural_and_bounded() -> None:
    """Every node is typed; strings, lists and maps are bounded (cheap CEL), no nulls."""
    for path, node in nodes(openapi_schema()):
        free = node.get("x-kubernetes-preserve-unknown-fields")
        assert "type" in node or free or node.get("x-kubernetes-int-or-string"), path
        forbidden = {"$ref", "$defs", "title", "nullable", "oneOf"}
        if not node.get("x-kubernetes-int-or-string"):
            forbidden.add("anyOf")  # int-or-string spells its two types as anyOf
        assert not forbidden & node.keys(), path
        if node.get("type") == "string" and "enum" not in node and "format" not in node:
            assert "maxLength" in node or path.startswith((".apiVersion", ".kind")), path
        if node.get("type") == "array":
            assert "maxItems" in node, path
        if node.get("type") == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, path


def test_free_form_only_where_values_are_arbitrary() -> None:
    free = {
        path
        for path, node in nodes(openapi_schema())
        if node.get("x-kubernetes-preserve-unknown-fields")
    }
    assert free == {
        ".spec.model.builtin.hyperparameters",
        ".spec.tuning.searchSpace[].values[]",
        ".status.bestHyperparameters",
    }


def test_every_spec_field_is_described() -> None:
    for path, node in nodes(openapi_schema()["properties"]["spec"], ".spec"):
        if not path.endswith("[]"):
            assert node.get("description"), path


def test_printer_columns_read_status_fields() -> None:
    columns = crdgen.PRINTER_COLUMNS
    assert [c["name"] for c in columns if "priority" not in c] == [
        "Phase",
        "Progress",
        "Best",
        "Attempt",
        "Age",
    ]
    assert not any("conditions" in c["jsonPath"] for c in columns)
