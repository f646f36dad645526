"""Fixtures for tests that run the operator against the dev cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DevCluster
from tests.integration.operator_harness import ROOT, Harness


@pytest.fixture(scope="session")
def crd_installed(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    dev_cluster.kubectl(
        "wait", "--for=condition=Established", "crd/trainingjobs.kubetrain.io", "--timeout=30s"
    )


@pytest.fixture
def harness(
    dev_cluster: DevCluster, namespace: str, crd_installed: None, tmp_path: Path
) -> Iterator[Harness]:
    """A namespace holding the S3 credentials Secret, and a way to start operators for it."""
    secret = json.loads(
        dev_cluster.kubectl(
            "get", "secret", dev_cluster.s3.secret_name, "-n", "default", "-o", "json"
        ).stdout
    )
    secret["metadata"] = {"name": dev_cluster.s3.secret_name, "namespace": namespace}
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(secret))
    # Every pod the operator creates must pass the real PodSecurity admission, level restricted.
    dev_cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    h = Harness(dev_cluster, namespace, tmp_path)
    yield h
    h.stop_all()
    log = tmp_path / "operator.log"
    if log.exists():
        print(log.read_text()[-4000:])
