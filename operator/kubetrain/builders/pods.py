"""The pods of one attempt: a single trainer pod, or a Ray cluster (a head pod that runs the
trainer driver, and worker pods that join it).

Placement comes from the compute profile (nodeSelector, tolerations, CPU, memory, GPUs).
Every pod passes the Pod Security Standard "restricted"; S3 credentials and the Ray token
reach containers only through secretKeyRef. The pod contract (env, paths, files, exit codes)
is `kubetrain.api.contract`. A queued job's attempt is one Kueue
pod group (see `builders.kueue`); `runPolicy.priorityClassName` passes through to every pod.
"""

from __future__ import annotations

import shlex
import zlib
from dataclasses import dataclass, field
from typing import Any

from kubetrain.api import TrainingJobSpec
from kubetrain.api.compute import placement_profile
from kubetrain.api.contract import (
    SCRATCH,
    SPEC_MOUNT,
    SPEC_PATH,
    STOP_COMMAND,
    TRAINER_COMMAND,
    Env,
    attempt_prefix,
)
from kubetrain.builders import kueue, naming
from kubetrain.builders.naming import ROLE_HEAD, ROLE_TRAINER, ROLE_WORKER, JobRef
from kubetrain.config import OperatorConfig
from kubetrain.quantity import cpu_cores

RAY_DASHBOARD_PORT = 8265


@dataclass(frozen=True)
class RayPorts:
    gcs: int
    dashboard: int


def ray_ports(job: JobRef, attempt: int, config: OperatorConfig) -> RayPorts:
    """The Ray head's ports: the configured ones, shifted per attempt where pods share one
    network (the dev cluster's local node), so that two Ray clusters never collide."""
    if not config.ray_port_spread:
        return RayPorts(config.ray_port, RAY_DASHBOARD_PORT)
    spread = config.ray_port_spread
    shift = zlib.crc32(f"{job.uid}/{attempt}".encode()) % spread
    return RayPorts(config.ray_port + shift, config.ray_port + spread + shift)


@dataclass(frozen=True)
class Placement:
    """Where and with what resources each pod of the attempt runs."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    cpu: str = "1"
    memory: str = "2Gi"
    gpus: int = 0
    gpu_resource: str = "nvidia.com/gpu"


def placement(spec: TrainingJobSpec, config: OperatorConfig) -> Placement:
    """Resolve the compute profile (or explicit resources) of a semantically valid spec."""
    compute = spec.compute
    profiles = config.profile_map()
    name = placement_profile(compute, profiles, config.default_profile)
    profile = profiles[name or config.default_profile]
    if compute.resources is not None:
        cpu, memory = str(compute.resources.cpu), str(compute.resources.memory)
    else:
        cpu, memory = str(profile.resources.cpu), str(profile.resources.memory)
    gpus = compute.gpus_per_worker if compute.gpus_per_worker is not None else profile.gpus
    return Placement(
        node_selector=dict(profile.node_selector),
        tolerations=[dict(t) for t in profile.tolerations],
        cpu=cpu,
        memory=memory,
        gpus=gpus,
        gpu_resource=profile.gpu_resource,
    )


def output_root(spec: TrainingJobSpec, config: OperatorConfig) -> str:
    return (spec.output.uri or config.artifact_store.uri).rstrip("/")


def artifact_uri(job: JobRef, spec: TrainingJobSpec, config: OperatorConfig, attempt: int) -> str:
    """Where the trainer of `attempt` writes (see kubetrain_trainer's contract)."""
    return attempt_prefix(output_root(spec, config), job.namespace, job.name, attempt)


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(
    job: JobRef, spec: TrainingJobSpec, config: OperatorConfig, attempt: int, ray: bool
) -> list[dict[str, Any]]:
    store = config.artifact_store
    out_s3 = spec.output.s3
    out_secret = out_s3.credentials_secret if out_s3 and out_s3.credentials_secret else None
    endpoint = str(out_s3.endpoint) if out_s3 and out_s3.endpoint else store.endpoint
    env: list[dict[str, Any]] = [
        {"name": Env.POD_IP, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": Env.SPEC, "value": SPEC_PATH},
        {"name": Env.JOB_NAME, "value": job.name},
        {"name": Env.NAMESPACE, "value": job.namespace},
        {"name": Env.ATTEMPT, "value": str(attempt)},
        {"name": Env.OUTPUT_URI, "value": output_root(spec, config)},
        {
            "name": Env.AWS_REGION,
            "value": (out_s3.region if out_s3 and out_s3.region else None) or store.region,
        },
        _secret_env(
            Env.AWS_ACCESS_KEY_ID,
            out_secret.name if out_secret else store.credentials_secret,
            out_secret.access_key_id_key if out_secret else store.access_key_id_key,
        ),
        _secret_env(
            Env.AWS_SECRET_ACCESS_KEY,
            out_secret.name if out_secret else store.credentials_secret,
            out_secret.secret_access_key_key if out_secret else store.secret_access_key_key,
        ),
        {"name": "HOME", "value": SCRATCH},
        {"name": "TMPDIR", "value": SCRATCH},
        {"name": "RAY_TMPDIR", "value": SCRATCH},
    ]
    if endpoint:
        env.append({"name": Env.S3_ENDPOINT, "value": endpoint})
    data_s3 = spec.data.s3
    if data_s3 is not None:
        if data_s3.endpoint:
            env.append({"name": Env.DATA_S3_ENDPOINT, "value": str(data_s3.endpoint)})
        if data_s3.credentials_secret is not None:
            ref = data_s3.credentials_secret
            env.append(_secret_env(Env.DATA_ACCESS_KEY_ID, ref.name, ref.access_key_id_key))
            env.append(_secret_env(Env.DATA_SECRET_ACCESS_KEY, ref.name, ref.secret_access_key_key))
    if ray:
        env += [
            {"name": "RAY_AUTH_MODE", "value": "token"},
            _secret_env("RAY_AUTH_TOKEN", naming.ray_secret(job), "token"),
            {"name": "RAY_USAGE_STATS_ENABLED", "value": "0"},
        ]
    if spec.model.custom is not None:
        env += [{"name": v.name, "value": v.value} for v in spec.model.custom.env]
    return env


def _resources(p: Placement) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": p.cpu, "memory": p.memory}
    limits: dict[str, str] = {"memory": p.memory}
    if p.gpus:
        requests[p.gpu_resource] = limits[p.gpu_resource] = str(p.gpus)
    return {"requests": requests, "limits": limits}


def _ray_start(role: str, job: JobRef, attempt: int, p: Placement, config: OperatorConfig) -> str:
    common = (
        f"--node-ip-address=$POD_IP --num-cpus={_whole_cpus(p.cpu)} --num-gpus={p.gpus} "
        "--disable-usage-stats"
    )
    ports = ray_ports(job, attempt, config)
    if role == ROLE_HEAD:
        return (
            f"ray start --head --port={ports.gcs} --dashboard-host=$POD_IP "
            f"--dashboard-port={ports.dashboard} {common}"
        )
    return f"ray start --address={_head_host(job, attempt)}:{ports.gcs} {common} --block"


def _head_host(job: JobRef, attempt: int) -> str:
    return f"{naming.service(job, attempt)}.{job.namespace}.svc"


# The container's PID 1 is a shell: the head's forwards SIGTERM to the driver (a shell as PID 1
# would ignore it), waits for that to finish (the trainer checkpoints), and exits with its code.
_FORWARD_TERM = "trap 'kill -TERM \"$child\" 2>/dev/null' TERM\n"
_WAIT_CHILD = (
    'wait "$child"; rc=$?\nwhile kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done\n'
)


def _worker_script(job: JobRef, attempt: int, p: Placement, config: OperatorConfig) -> str:
    """Wait for the head, join its cluster, and finish when the head stops the cluster.

    When the driver is done the head stops Ray, and `ray start --block` returns an error; a
    worker whose head is gone has done its part and exits 0: the head's exit code is the
    attempt's verdict. A SIGTERM is not forwarded to Ray (its ranks would die without a
    checkpoint): the pod writes the attempt's stop marker instead, every rank checkpoints and
    stops, and the pod keeps its Ray node until the head stops the cluster (or the grace
    period ends).
    """
    probe = (
        'python -c "import socket; '
        f"socket.create_connection(('{_head_host(job, attempt)}', "
        f'{ray_ports(job, attempt, config).gcs}), 2)"'
        " 2>/dev/null"
    )
    return (
        f"trap 'stopping=1; {shlex.join(STOP_COMMAND)}' TERM\n"
        + f'for i in $(seq 120); do [ -z "$stopping" ] || exit 0; {probe} && break; sleep 1; done\n'
        + f"{_ray_start(ROLE_WORKER, job, attempt, p, config)} & child=$!\n"
        + _WAIT_CHILD
        + f"{probe} || exit 0\n"
        + "exit $rc\n"
    )


def _head_script(job: JobRef, attempt: int, p: Placement, config: OperatorConfig) -> str:
    """Start Ray, run the driver (the positional parameters) against it, stop Ray."""
    return (
        f"{_ray_start(ROLE_HEAD, job, attempt, p, config)} || exit 1\n"
        f'export {Env.RAY_ADDRESS}="${Env.POD_IP}:{ray_ports(job, attempt, config).gcs}"\n'
        + _FORWARD_TERM
        + '"$@" & child=$!\n'
        + _WAIT_CHILD
        + "ray stop --force >/dev/null 2>&1\n"
        + "exit $rc\n"
    )


def _whole_cpus(cpu: str) -> int:
    return max(1, int(cpu_cores(cpu)))


def _command(
    role: str,
    job: JobRef,
    spec: TrainingJobSpec,
    attempt: int,
    p: Placement,
    config: OperatorConfig,
) -> tuple[list[str], list[str]]:
    """(command, args) of the container for `role`."""
    # Bring-your-own code too: the trainer runs the user's command (from the spec) with the
    # job's data, output and checkpoint locations, and reads its metrics back.
    driver = list(TRAINER_COMMAND)
    if role == ROLE_TRAINER:
        return driver, []
    if role == ROLE_WORKER:
        return ["sh", "-c", _worker_script(job, attempt, p, config)], []
    # The driver's argv is passed as positional parameters, so nothing is re-quoted.
    return ["sh", "-c", _head_script(job, attempt, p, config), "kubetrain-head", *driver], []


def build_pod(
    job: JobRef,
    spec: TrainingJobSpec,
    attempt: int,
    role: str,
    config: OperatorConfig,
    index: int = 0,
    queue: str | None = None,
) -> dict[str, Any]:
    """One pod of the attempt; in the attempt's Kueue pod group when `queue` is set."""
    p = placement(spec, config)
    ray = role in (ROLE_HEAD, ROLE_WORKER)
    command, args = _command(role, job, spec, attempt, p, config)
    image = spec.model.custom.image if spec.model.custom else config.trainer_image
    container: dict[str, Any] = {
        "name": "trainer" if role != ROLE_WORKER else "ray-worker",
        "image": image,
        "imagePullPolicy": config.image_pull_policy,
        "env": _env(job, spec, config, attempt, ray),
        "resources": _resources(p),
        "volumeMounts": [
            {"name": "spec", "mountPath": SPEC_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": SCRATCH},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    if ray:
        ports = ray_ports(job, attempt, config)
        container["ports"] = sorted(
            [
                {"name": "gcs", "containerPort": ports.gcs},
                {"name": "dashboard", "containerPort": ports.dashboard},
            ],
            key=lambda port: port["containerPort"],
        )
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": config.termination_grace_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "spec", "configMap": {"name": naming.spec_config_map(job)}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if p.node_selector:
        pod_spec["nodeSelector"] = dict(sorted(p.node_selector.items()))
    if p.tolerations:
        pod_spec["tolerations"] = p.tolerations
    if spec.run_policy.priority_class_name:
        pod_spec["priorityClassName"] = spec.run_policy.priority_class_name
    if ray:
        # Resolvable as <hostname>.<service> like a StatefulSet member.
        pod_spec["hostname"] = naming.pod(job, attempt, role, index)
        pod_spec["subdomain"] = naming.service(job, attempt)
    metadata: dict[str, Any] = naming.metadata(
        job, naming.pod(job, attempt, role, index), attempt, role
    )
    if queue:
        group = kueue.group_name(job, attempt)
        labels, annotations = kueue.pod_group(queue, group, spec.compute.workers)
        metadata["labels"] = {**labels, **naming.labels(job, attempt, role)}
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def attempt_pods(
    job: JobRef,
    spec: TrainingJobSpec,
    attempt: int,
    config: OperatorConfig,
    queue: str | None = None,
) -> list[dict[str, Any]]:
    """Every pod of the attempt: one trainer, or a Ray head and workers-1 Ray workers; with a
    Kueue `queue`, all of them one pod group, admitted together."""
    workers = spec.compute.workers
    if workers == 1:
        return [build_pod(job, spec, attempt, ROLE_TRAINER, config, queue=queue)]
    return [build_pod(job, spec, attempt, ROLE_HEAD, config, queue=queue)] + [
        build_pod(job, spec, attempt, ROLE_WORKER, config, i, queue) for i in range(workers - 1)
    ]
