"""The S3 object store: SeaweedFS (`weed server -s3`) with authentication on.

`start` generates an access key pair once (kept in the state directory), writes SeaweedFS's
identities file so that anonymous and wrongly signed requests are refused, starts the server
on 127.0.0.1, waits for the S3 endpoint and creates the default bucket. `kubetrain run` uses the
same functions to get a private store of its own.
"""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubetrain.dev.processes import DevClusterError, Supervisor, wait_until

COMPONENT = "seaweedfs"
HOST = "127.0.0.1"
# SeaweedFS can take over 20 s to exit on SIGTERM; `stop` escalates to SIGKILL after this.
STOP_GRACE_SECONDS = 5.0
GRPC_OFFSET = 10000  # SeaweedFS's own convention: gRPC on the HTTP port + 10000


@dataclass(frozen=True)
class S3Ports:
    s3: int
    master: int
    volume: int
    filer: int


@dataclass(frozen=True)
class S3Endpoint:
    """How to reach the store: what `up` prints and what pods get through a Secret."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def identities(access_key: str, secret_key: str) -> dict[str, Any]:
    """SeaweedFS's S3 identities file: one admin identity, no anonymous access."""
    return {
        "identities": [
            {
                "name": "kubetrain",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def weed_argv(weed: Path, data_dir: Path, identities_file: Path, ports: S3Ports) -> list[str]:
    return [
        str(weed),
        "server",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-master.port={ports.master}",
        f"-master.port.grpc={ports.master + GRPC_OFFSET}",
        f"-volume.port={ports.volume}",
        f"-volume.port.grpc={ports.volume + GRPC_OFFSET}",
        f"-filer.port={ports.filer}",
        f"-filer.port.grpc={ports.filer + GRPC_OFFSET}",
        f"-filer.localSocket={data_dir}/filer.sock",
        "-master.volumeSizeLimitMB=256",
        "-volume.max=64",
        "-s3",
        f"-s3.port={ports.s3}",
        f"-s3.port.grpc={ports.s3 + GRPC_OFFSET}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={identities_file}",
        "-iam=false",
        "-webdav=false",
    ]


def _credentials(identities_file: Path) -> tuple[str, str]:
    """The stored key pair, or a new random one."""
    try:
        creds = json.loads(identities_file.read_text())["identities"][0]["credentials"][0]
        return str(creds["accessKey"]), str(creds["secretKey"])
    except (OSError, ValueError, KeyError, IndexError):
        return "KT" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def client(endpoint: S3Endpoint) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint.endpoint,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=30),
    )


def _ensure_bucket(endpoint: S3Endpoint) -> bool:
    s3 = client(endpoint)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if endpoint.bucket not in existing:
        s3.create_bucket(Bucket=endpoint.bucket)
    return True


def start(
    sup: Supervisor,
    weed: Path,
    data_dir: Path,
    identities_file: Path,
    ports: S3Ports,
    bucket: str,
    component: str = COMPONENT,
) -> S3Endpoint:
    """Start SeaweedFS (or keep the running one) and return its endpoint and credentials."""
    endpoint = launch(sup, weed, data_dir, identities_file, ports, bucket, component)
    wait_ready(sup, endpoint, component)
    return endpoint


def launch(
    sup: Supervisor,
    weed: Path,
    data_dir: Path,
    identities_file: Path,
    ports: S3Ports,
    bucket: str,
    component: str = COMPONENT,
) -> S3Endpoint:
    """Start SeaweedFS in the background (or keep the running one), without waiting for it."""
    if len(bucket) < 3:
        raise DevClusterError(
            f"S3 bucket name {bucket!r} is too short: SeaweedFS needs 3+ characters"
        )
    access_key, secret_key = _credentials(identities_file)
    identities_file.parent.mkdir(parents=True, exist_ok=True)
    identities_file.write_text(json.dumps(identities(access_key, secret_key), indent=2))
    identities_file.chmod(0o600)
    data_dir.mkdir(parents=True, exist_ok=True)
    sup.start(component, weed_argv(weed, data_dir, identities_file, ports))
    return S3Endpoint(f"http://{HOST}:{ports.s3}", access_key, secret_key, bucket)


def port_of(endpoint: S3Endpoint) -> int:
    return int(endpoint.endpoint.rsplit(":", 1)[1])


def wait_ready(
    sup: Supervisor, endpoint: S3Endpoint, component: str = COMPONENT, timeout: float = 90
) -> None:
    """Wait until the S3 endpoint answers and the bucket exists (creating it)."""
    wait_until(
        lambda: port_open(port_of(endpoint)),
        timeout,
        "the S3 endpoint",
        supervisor=sup,
        component=component,
    )
    # The S3 gateway accepts connections before the filer and a volume are ready for writes.
    wait_until(
        lambda: _ensure_bucket(endpoint),
        timeout,
        f"the S3 bucket {endpoint.bucket!r}",
        supervisor=sup,
        component=component,
    )


def stop(sup: Supervisor, component: str = COMPONENT, grace: float = STOP_GRACE_SECONDS) -> bool:
    return sup.stop(component, grace=grace)
