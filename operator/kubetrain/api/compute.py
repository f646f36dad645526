"""Compute: a profile the cluster admin defines (a node pool and its resources), or explicit
resources; the number of Ray workers; GPUs per worker; how networks are spread over the workers.

Profiles live in the operator's configuration, so the API server cannot know whether a profile
has GPUs. One naming convention closes that gap: a GPU profile's name is `gpu` or starts with
`gpu-`, and only a GPU profile's name does. `ComputeProfile` enforces the convention when the
operator loads its configuration, which lets the CRD reject GPUs on any other profile at
`kubectl apply`. Whether the profile exists, and has that many GPUs, the operator checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import Field, JsonValue, model_validator

from kubetrain.api.base import ApiModel, Label, Quantity, Rule, Text
from kubetrain.api.enums import ParallelStrategy

GPU_PROFILE_PREFIX = "gpu"


def is_gpu_profile_name(name: str) -> bool:
    """Whether a profile of this name is one that offers GPUs (`gpu`, `gpu-*`)."""
    return name == GPU_PROFILE_PREFIX or name.startswith(GPU_PROFILE_PREFIX + "-")


class Resources(ApiModel):
    """CPU and memory per Ray worker, as Kubernetes quantities."""

    cpu: Quantity
    """CPU cores: `2`, `"500m"`."""
    memory: Quantity
    """Memory: `"4Gi"`."""


class ComputeSpec(ApiModel):
    """Where and how wide the job runs. Without profile or resources: the default profile."""

    profile: Label | None = None
    """A compute profile defined by the cluster admin (e.g. cpu-general, memory-optimized,
    gpu-a100). GPU profiles are named gpu or gpu-*."""
    resources: Resources | None = None
    """Explicit resources per worker, instead of a profile."""
    workers: Annotated[int, Field(strict=True, ge=1, le=64)] = 1
    """The number of Ray workers."""
    gpus_per_worker: Annotated[int, Field(strict=True, ge=0, le=16)] | None = None
    """GPUs per worker. Defaults to the profile's GPUs per worker (0 without a GPU profile)."""
    strategy: ParallelStrategy = ParallelStrategy.DDP
    """How a built-in network is spread over the workers: `ddp` (each worker holds the whole
    model) or `fsdp` (parameters, gradients and optimizer state sharded across the workers).
    Only networks use it; other models ignore it."""

    rules = (
        Rule(
            cel="!has(self.profile) || !has(self.resources)",
            message="set at most one of profile or resources",
            holds=lambda c: c.profile is None or c.resources is None,
            field=".resources",
        ),
        Rule(
            cel="!has(self.gpusPerWorker) || self.gpusPerWorker == 0 || has(self.resources) || "
            f"(has(self.profile) && (self.profile == '{GPU_PROFILE_PREFIX}' || "
            f"self.profile.startsWith('{GPU_PROFILE_PREFIX}-')))",
            message="GPUs need a GPU profile (named gpu or gpu-*) or explicit resources",
            holds=lambda c: (
                not c.gpus_per_worker
                or c.resources is not None
                or (c.profile is not None and is_gpu_profile_name(c.profile))
            ),
            field=".gpusPerWorker",
        ),
    )


def placement_profile(
    compute: ComputeSpec, profiles: Mapping[str, ComputeProfile], default_profile: str | None
) -> str | None:
    """The profile whose node pool (selector, tolerations) a job's pods go to.

    The named profile; with explicit resources and GPUs, the first GPU profile (its pool has
    the GPUs and its tolerations admit the pods); otherwise the default profile.
    """
    if compute.profile is not None:
        return compute.profile
    if compute.resources is not None and compute.gpus_per_worker:
        return next((name for name, p in profiles.items() if p.gpus > 0), None)
    return default_profile


class ComputeProfile(ApiModel):
    """A compute profile from the operator's configuration: a node pool and worker resources.

    Not part of the CRD: the cluster admin defines these, the operator loads them.
    """

    name: Label
    """How jobs refer to the profile. GPU profiles, and only they, are named gpu or gpu-*."""
    description: Text = ""
    """What the profile is for."""
    node_selector: Annotated[dict[str, str], Field(max_length=32)] = Field(default_factory=dict)
    """Labels of the nodes the workers run on."""
    tolerations: Annotated[list[dict[str, JsonValue]], Field(max_length=32)] = Field(
        default_factory=list
    )
    """Kubernetes tolerations for the pool's taints, as in a pod spec."""
    resources: Resources
    """CPU and memory requested per worker."""
    gpus: Annotated[int, Field(strict=True, ge=0, le=16)] = 0
    """GPUs per worker, at most; also the default for jobs that do not say."""
    gpu_resource: Annotated[str, Field(max_length=253, pattern=r"^[a-z0-9.-]+/[a-z0-9.-]+$")] = (
        "nvidia.com/gpu"
    )
    """The extended resource name GPUs are requested by."""

    @model_validator(mode="after")
    def _gpu_naming_convention(self) -> Self:
        if is_gpu_profile_name(self.name) != (self.gpus > 0):
            raise ValueError(
                f"profile {self.name!r}: profiles with GPUs must be named gpu or gpu-*, "
                "and only they (the CRD relies on this to reject GPUs on CPU profiles)"
            )
        return self
