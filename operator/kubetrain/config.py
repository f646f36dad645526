"""The operator's configuration: what the platform team decides, once, for every job.

Compute profiles (node pool, tolerations, worker resources, GPUs), the default profile, the
trainer image, the artifact store with the Secret that holds its credentials, and timings
(gang scheduling, progress polling). The Helm chart writes this file into a ConfigMap;
`kubetrain operator --config FILE` reads it. Every field has a default that works with
`kubetrain dev up`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from kubetrain.api import ComputeProfile, Resources


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class ArtifactStore(_Model):
    """The default S3 store for artifacts and checkpoints, and how pods authenticate to it."""

    uri: str = Field("s3://kubetrain", pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
    """Artifacts of job J in namespace N go under <uri>/N/J/<attempt>/."""
    endpoint: str | None = "http://127.0.0.1:18333"
    """S3 endpoint for non-AWS stores (SeaweedFS, MinIO); None for AWS."""
    region: str = "us-east-1"
    credentials_secret: str = "kubetrain-s3"
    """A Secret of this name must exist in each job's namespace (pods read it by
    secretKeyRef); the operator itself reads the store with its own environment's AWS_*."""
    access_key_id_key: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_key: str = "AWS_SECRET_ACCESS_KEY"


def _default_profiles() -> list[ComputeProfile]:
    return [
        ComputeProfile(
            name="cpu-general",
            description="General-purpose CPU nodes",
            node_selector={"kubetrain.io/pool": "cpu-general"},
            resources=Resources(cpu="2", memory="4Gi"),
        ),
        ComputeProfile(
            name="cpu-highmem",
            description="Memory-optimised CPU nodes",
            node_selector={"kubetrain.io/pool": "cpu-highmem"},
            resources=Resources(cpu="2", memory="32Gi"),
        ),
        ComputeProfile(
            name="gpu",
            description="NVIDIA GPU nodes",
            node_selector={"kubetrain.io/pool": "gpu"},
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            resources=Resources(cpu="4", memory="16Gi"),
            gpus=1,
        ),
        ComputeProfile(
            name="local",
            description="The dev cluster's local node: pods really run on this machine",
            node_selector={"kubetrain.io/pool": "local"},
            tolerations=[{"key": "kubetrain.io/local-node", "operator": "Exists"}],
            resources=Resources(cpu="1", memory="2Gi"),
        ),
    ]


class OperatorConfig(_Model):
    trainer_image: str = "ghcr.io/kubetrain/trainer:0.1.0"
    image_pull_policy: str = Field("IfNotPresent", pattern="^(Always|IfNotPresent|Never)$")
    profiles: list[ComputeProfile] = Field(default_factory=_default_profiles)
    default_profile: str = "cpu-general"
    artifact_store: ArtifactStore = Field(default_factory=ArtifactStore)
    gang_timeout_seconds: Annotated[int, Field(ge=10)] = 300
    """A multi-worker attempt whose pods are not all scheduled by then is released."""
    progress_interval_seconds: Annotated[float, Field(gt=0)] = 10.0
    """How often a running job's progress is read from the artifact store."""
    termination_grace_seconds: Annotated[int, Field(ge=1)] = 60
    """Time a trainer gets after SIGTERM to write its checkpoint."""
    ray_port: int = 6379
    job_network_policy: bool = False
    """Give every job a NetworkPolicy that admits only its own pods to them (Ray's ports stay
    inside the job). Needs a network plugin that enforces NetworkPolicies; the chart sets it."""
    ray_port_spread: Annotated[int, Field(ge=0, le=20000)] = 0
    """0 on a real cluster (every pod has its own network). Where pods share one network, as
    on the dev cluster's local node, each Ray cluster's ports are shifted by a number below
    this, derived from the job and attempt, so that concurrent jobs do not collide (the
    dashboard then takes rayPort + rayPortSpread + the same shift)."""

    @model_validator(mode="after")
    def _default_profile_exists(self) -> Self:
        names = [p.name for p in self.profiles]
        if len(set(names)) != len(names):
            raise ValueError(f"profile names must be unique: {names}")
        if self.default_profile not in names:
            raise ValueError(f"defaultProfile {self.default_profile!r} is not one of {names}")
        return self

    def profile_map(self) -> dict[str, ComputeProfile]:
        return {p.name: p for p in self.profiles}


class ConfigError(ValueError):
    """The operator configuration file is unreadable or invalid."""


def load(path: Path | None) -> OperatorConfig:
    if path is None:
        return OperatorConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return OperatorConfig.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read operator config {path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
