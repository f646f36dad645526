"""Shared fixtures. Tests marked `cluster` get one dev cluster for the whole session.

`dev_cluster` brings the real local cluster up (or reuses a running one, `kubetrain dev up` is
idempotent) and hands out its kubeconfig, a kubectl runner, API clients and the S3 store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class S3Store:
    """The dev cluster's SeaweedFS S3 endpoint and the credentials `up` generated."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    secret_name: str

    def client(self, access_key: str | None = None, secret_key: str | None = None):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
        )


@dataclass(frozen=True)
class DevCluster:
    kubeconfig: Path
    s3: S3Store
    bin_dir: Path

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def kubetrain(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the `kubetrain` command of this environment."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "kubetrain"), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def api_client(self):  # type: ignore[no-untyped-def]
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "dev_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
