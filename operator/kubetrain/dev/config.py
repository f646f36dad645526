"""What a dev cluster is made of: where it keeps its state, its ports, node pools and S3.

The defaults give three simulated pools (`cpu-general`, `cpu-highmem`, `gpu`) and one `local`
node that really runs pods. `kubetrain dev up --config FILE` reads a YAML file of the same
shape (camelCase or snake_case keys) to change any of it.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

POOL_LABEL = "kubetrain.io/pool"
"""Every node carries its pool's name under this label; compute profiles select on it."""
LOCAL_NODE_TAINT_KEY = "kubetrain.io/local-node"
"""The `local` node is tainted so that only pods meant to really run land on it."""
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
GPU_RESOURCE = "nvidia.com/gpu"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class Taint(_Model):
    key: str
    value: str = ""
    effect: str = Field("NoSchedule", pattern="^(NoSchedule|PreferNoSchedule|NoExecute)$")


class NodePool(_Model):
    """A pool of identical simulated (kwok) nodes."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)
    nodes: int = Field(1, ge=1, le=100)
    cpu: str = "16"
    memory: str = "64Gi"
    gpus: int = Field(0, ge=0)
    max_pods: int = Field(110, ge=1)
    instance_type: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)


def _default_pools() -> list[NodePool]:
    return [
        NodePool(name="cpu-general", nodes=2, cpu="16", memory="64Gi", instance_type="m6i.4xlarge"),
        NodePool(name="cpu-highmem", nodes=1, cpu="8", memory="256Gi", instance_type="r6i.8xlarge"),
        NodePool(
            name="gpu",
            nodes=2,
            cpu="8",
            memory="64Gi",
            gpus=8,
            instance_type="p4d.2xlarge",
            labels={"nvidia.com/gpu.present": "true"},
            taints=[Taint(key=GPU_RESOURCE, value="present", effect="NoSchedule")],
        ),
    ]


class Ports(_Model):
    """Every port the dev cluster listens on, all bound to 127.0.0.1."""

    etcd_client: int = 23790
    etcd_peer: int = 23800
    apiserver: int = 6443
    controller_manager: int = 10257
    scheduler: int = 10259
    kwok: int = 10247
    kubelet: int = 10250
    # SeaweedFS also listens on each of these + 10000 for gRPC.
    s3: int = 18333
    weed_master: int = 18334
    weed_volume: int = 18335
    weed_filer: int = 18336
    kueue_webhook: int = 19443
    kueue_health: int = 19081

    def all(self) -> dict[str, int]:
        return self.model_dump()


class S3Config(_Model):
    bucket: str = Field("kubetrain", min_length=3, max_length=63)
    secret_name: str = "kubetrain-s3"
    secret_namespaces: list[str] = Field(default_factory=lambda: ["default", "kubetrain-system"])


class LocalNode(_Model):
    """The node whose pods really run as processes on this machine."""

    name: str = "local"
    pool: str = "local"
    cpu: str = Field(default_factory=lambda: str(max(16, os.cpu_count() or 2)))
    """Advertised capacity. Pods are processes sharing this machine's real cores (limits are
    not enforced), so the default admits a few multi-worker jobs even on a 2-core machine."""
    memory: str = "32Gi"
    max_pods: int = 50
    pod_ip_block: int = Field(0, ge=0, le=254)
    """Pod IPs are 127.0.<block>.x: two dev clusters on one machine each take their own block."""


class KueueConfig(_Model):
    """Kueue (optional): admits queued pods in groups against ClusterQueue quotas."""

    enabled: bool = False
    namespace: str = "kueue-system"
    """Kueue's own namespace (its Events, leases); like kube-system, Kueue leaves it alone."""


class DevConfig(_Model):
    cluster_name: str = "kubetrain-dev"
    state_dir: Path = Field(default_factory=lambda: default_state_dir())
    ports: Ports = Field(default_factory=Ports)
    pools: list[NodePool] = Field(default_factory=_default_pools)
    local_node: LocalNode = Field(default_factory=LocalNode)
    s3: S3Config = Field(default_factory=S3Config)
    kueue: KueueConfig = Field(default_factory=KueueConfig)
    service_cidr: str = "10.96.0.0/16"

    @field_validator("pools")
    @classmethod
    def _unique_pool_names(cls, pools: list[NodePool]) -> list[NodePool]:
        names = [p.name for p in pools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pool names must be unique; repeated: {', '.join(dupes)}")
        return pools


def default_state_dir() -> Path:
    """`$KUBETRAIN_DEV_DIR`, else `$XDG_STATE_HOME/kubetrain/dev` (~/.local/state/...)."""
    explicit = os.environ.get("KUBETRAIN_DEV_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubetrain" / "dev"


class ConfigError(ValueError):
    """The dev cluster configuration file is unreadable or invalid."""


def load(path: Path | None) -> DevConfig:
    """The defaults, overridden by the YAML file at `path` (or `$KUBETRAIN_DEV_CONFIG`)."""
    if path is None and os.environ.get("KUBETRAIN_DEV_CONFIG"):
        path = Path(os.environ["KUBETRAIN_DEV_CONFIG"]).expanduser()
    if path is None:
        return DevConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read dev cluster config {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return DevConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
