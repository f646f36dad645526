"""Shared fixtures. Tests marked `cluster` get one dev cluster for the whole session.

`dev_cluster` brings the real local cluster up (or reuses a running one, `kubetrain dev up` is
idempotent) and hands out its kubeconfig, a kubectl runner, API clients and the S3 store.
`harness` (integration and end-to-end tests) adds a namespace with the S3 credentials and a
way to start operators for it. The helpers themselves live in tests/support.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import ROOT
from tests.support.cluster import DevCluster, S3Store
from tests.support.operator_harness import Harness, prepare_namespace


@pytest.fixture(scope="session")
def dev_cluster() -> Iterator[DevCluster]:
    from kubetrain.dev import cluster

    already_running = cluster.status()["running"]
    info = cluster.up(progress=lambda msg: print(f"[dev up] {msg}", flush=True))
    os.environ["KUBECONFIG"] = str(info.kubeconfig)
    yield DevCluster(
        kubeconfig=info.kubeconfig,
        s3=S3Store(
            endpoint=info.s3.endpoint,
            access_key=info.s3.access_key,
            secret_key=info.s3.secret_key,
            bucket=info.s3.bucket,
            secret_name=info.s3.secret_name,
        ),
        bin_dir=info.bin_dir,
    )
    if not already_running and os.environ.get("KUBETRAIN_KEEP_CLUSTER") != "1":
        cluster.down()


@pytest.fixture
def namespace(dev_cluster: DevCluster) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    dev_cluster.kubectl("create", "namespace", name)
    # Pods are refused until the namespace's default ServiceAccount exists.
    deadline = time.monotonic() + 30
    while dev_cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {name}")
        time.sleep(0.2)
    yield name
    dev_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


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
    prepare_namespace(dev_cluster, namespace)
    h = Harness(dev_cluster, namespace, tmp_path)
    yield h
    h.stop_all()
    log = tmp_path / "operator.log"
    if log.exists():
        print(log.read_text()[-4000:])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "dev_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
