"""The dev cluster as the tests see it: its kubeconfig, kubectl, API clients and S3 store.

The `dev_cluster` fixture (tests/conftest.py) brings the cluster up and hands out a
`DevCluster`.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class S3Store:
    """The dev cluster's SeaweedFS S3 endpoint and the credentials `up` generated."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    secret_name: str

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
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
    """The running dev cluster: run kubectl and `kubetrain` against it, open API clients."""

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

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))
