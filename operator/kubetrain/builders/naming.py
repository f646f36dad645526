"""Names and labels of a TrainingJob's children.

`<job>-spec` (ConfigMap, the resolved spec) and `<job>-ray` (Secret, the Ray token) live as
long as the job; each attempt N has `<job>-aN-trainer` (a single-worker job), or
`<job>-aN-head`, `<job>-aN-worker-<i>` and the headless Service `<job>-aN` (a Ray cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubetrain.api import API_VERSION, KIND

DOMAIN = "kubetrain.io"
LABEL_JOB = f"{DOMAIN}/job-name"
LABEL_ATTEMPT = f"{DOMAIN}/attempt"
LABEL_ROLE = f"{DOMAIN}/role"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubetrain"}

ROLE_TRAINER = "trainer"
ROLE_HEAD = "head"
ROLE_WORKER = "worker"


@dataclass(frozen=True)
class JobRef:
    """The identity of a TrainingJob, enough to name and own its children."""

    name: str
    namespace: str
    uid: str

    def owner_reference(self) -> dict[str, object]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def spec_config_map(job: JobRef) -> str:
    return f"{job.name}-spec"


def ray_secret(job: JobRef) -> str:
    return f"{job.name}-ray"


def network_policy(job: JobRef) -> str:
    return f"{job.name}-pods"


def attempt_prefix(job: JobRef, attempt: int) -> str:
    return f"{job.name}-a{attempt}"


def service(job: JobRef, attempt: int) -> str:
    return attempt_prefix(job, attempt)


def pod(job: JobRef, attempt: int, role: str, index: int = 0) -> str:
    base = attempt_prefix(job, attempt)
    return f"{base}-worker-{index}" if role == ROLE_WORKER else f"{base}-{role}"


def labels(job: JobRef, attempt: int | None = None, role: str | None = None) -> dict[str, str]:
    out = {LABEL_JOB: job.name, **MANAGED_BY}
    if attempt is not None:
        out[LABEL_ATTEMPT] = str(attempt)
    if role is not None:
        out[LABEL_ROLE] = role
    return out


def metadata(
    job: JobRef, name: str, attempt: int | None = None, role: str | None = None
) -> dict[str, object]:
    return {
        "name": name,
        "namespace": job.namespace,
        "labels": labels(job, attempt, role),
        "ownerReferences": [job.owner_reference()],
    }
