"""Pure translations of a Pod into what the local node runs and reports.

Nothing here talks to the API server or starts a process: environment resolution (with the
`$(VAR)` expansion Kubernetes applies to env values, command and args), the hosts file that
makes Service names resolve inside a pod, and the pod status a kubelet would report for a set
of container states. The kubelet module feeds these with live objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CLUSTER_DOMAIN = "cluster.local"

# Looks up `key` in a ConfigMap or Secret of the pod's namespace: (name, key) -> value or None.
Lookup = Callable[[str, str], str | None]
# Returns the whole data of a ConfigMap or Secret: name -> {key: value} or None.
LookupAll = Callable[[str], dict[str, str] | None]


class PodConfigError(ValueError):
    """The pod cannot be started as written (a missing Secret key, an unsupported field)."""


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: known names are replaced, `$$` escapes a `$`."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REF.sub(repl, value)


def field_ref(pod: Mapping[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    """The value of a downward-API `fieldRef.fieldPath`."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    raise PodConfigError(f"unsupported fieldRef.fieldPath {path!r}")


@dataclass(frozen=True)
class EnvSources:
    """Where `valueFrom` and `envFrom` read from, in the pod's namespace."""

    config_map_key: Lookup
    secret_key: Lookup
    config_map: LookupAll
    secret: LookupAll


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    sources: EnvSources,
    pod_ip: str,
    host_ip: str,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment as the kubelet would build it, on top of `base`."""
    env: dict[str, str] = dict(base or {})
    for item in container.get("envFrom") or []:
        prefix = item.get("prefix", "")
        if "configMapRef" in item:
            ref, data = item["configMapRef"], sources.config_map(item["configMapRef"]["name"])
            kind = "ConfigMap"
        elif "secretRef" in item:
            ref, data = item["secretRef"], sources.secret(item["secretRef"]["name"])
            kind = "Secret"
        else:
            continue
        if data is None:
            if ref.get("optional"):
                continue
            raise PodConfigError(f'{kind} "{ref["name"]}" not found (envFrom)')
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = sources.secret_key(ref["name"], ref["key"])
            what = f'key "{ref["key"]}" of Secret "{ref["name"]}"'
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            value = sources.config_map_key(ref["name"], ref["key"])
            what = f'key "{ref["key"]}" of ConfigMap "{ref["name"]}"'
        elif "fieldRef" in source:
            ref = source["fieldRef"]
            value = field_ref(pod, ref["fieldPath"], pod_ip, host_ip)
            what = ref["fieldPath"]
        elif "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            value = _resource_field(container, ref["resource"])
            what = ref["resource"]
        else:
            raise PodConfigError(f"env {name}: unsupported valueFrom {sorted(source)}")
        if value is None:
            if ref.get("optional"):
                continue
            raise PodConfigError(f"env {name}: {what} not found")
        env[name] = value
    return env


def _resource_field(container: Mapping[str, Any], resource: str) -> str:
    kind, _, name = resource.partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    return str(value) if value is not None else "0"


def command_line(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """command + args with `$(VAR)` expanded; the local node has no image entrypoint."""
    command = [expand(str(c), env) for c in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    if not command:
        raise PodConfigError(
            f'container "{container.get("name")}" has no command: the local node runs no '
            "images, so it needs `command` (the image's entrypoint is not known)"
        )
    return command + args


# --- Service names -------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalPod:
    """What name resolution needs to know of a running pod on the local node."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str] = field(default_factory=dict)
    hostname: str = ""
    subdomain: str = ""


def _fqdn_aliases(name: str, namespace: str) -> list[str]:
    return [
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}",
    ]


def service_records(
    services: Iterable[Mapping[str, Any]], pods: Iterable[LocalPod]
) -> list[tuple[str, list[str]]]:
    """(ip, names) pairs for every Service backed by a local pod, and per-pod DNS names.

    A ClusterIP has no proxy behind it here, so a Service's names resolve straight to its
    backing pods' 127.0.0.x addresses (the Service port must equal the container port).
    Pods that set `hostname` and `subdomain` get `<hostname>.<subdomain>.<ns>.svc...` names.
    """
    pods = sorted(pods, key=lambda p: (p.namespace, p.name))
    records: list[tuple[str, list[str]]] = []
    for svc in sorted(
        services, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])
    ):
        meta, spec = svc["metadata"], svc.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector:
            continue
        namespace = meta.get("namespace", "default")
        backends = [
            p
            for p in pods
            if p.namespace == namespace and all(p.labels.get(k) == v for k, v in selector.items())
        ]
        names = _fqdn_aliases(meta["name"], namespace)
        for pod in backends:
            records.append((pod.ip, names))
            if pod.subdomain == meta["name"] and pod.hostname:
                records.append(
                    (pod.ip, [f"{pod.hostname}.{name}" for name in names[:1] + names[2:]])
                )
    return records


def hosts_file(
    pod: LocalPod, records: Iterable[tuple[str, list[str]]], apiserver_ip: str = "127.0.0.1"
) -> str:
    """The /etc/hosts a pod on the local node sees."""
    own = [pod.hostname or pod.name]
    if pod.hostname and pod.subdomain:
        own.insert(0, f"{pod.hostname}.{pod.subdomain}.{pod.namespace}.svc.{CLUSTER_DOMAIN}")
    lines = [
        "# Managed by the kubetrain local node: Service names of pods on this node.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{pod.ip}\t{' '.join(own)}",
        f"{apiserver_ip}\t{' '.join(_fqdn_aliases('kubernetes', 'default')[1:])}",
    ]
    lines += [f"{ip}\t{' '.join(names)}" for ip, names in records]
    return "\n".join(lines) + "\n"


# --- Status --------------------------------------------------------------------------------


@dataclass
class ContainerState:
    """What the local node knows of one container."""

    name: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    restart_count: int = 0
    last_terminated: dict[str, Any] | None = None

    def as_status(self, image: str) -> dict[str, Any]:
        if self.state == "running":
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {
                "terminated": {
                    "exitCode": self.exit_code,
                    "reason": self.reason,
                    "startedAt": self.started_at,
                    "finishedAt": self.finished_at,
                    **({"message": self.message} if self.message else {}),
                }
            }
        else:
            state = {
                "waiting": {
                    "reason": self.reason,
                    **({"message": self.message} if self.message else {}),
                }
            }
        status: dict[str, Any] = {
            "name": self.name,
            "image": image,
            "imageID": "",
            "ready": self.state == "running",
            "started": self.state == "running",
            "restartCount": self.restart_count,
            "state": state,
        }
        if self.last_terminated:
            status["lastState"] = {"terminated": self.last_terminated}
        return status


def pod_phase(restart_policy: str, containers: Iterable[ContainerState]) -> str:
    """The pod phase a kubelet derives from its containers' states."""
    states = list(containers)
    if any(c.state == "running" for c in states):
        return "Running"
    if states and all(c.state == "terminated" for c in states):
        if all(c.exit_code == 0 for c in states):
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"  # it will be restarted
    if any(c.state == "terminated" or c.restart_count for c in states):
        return "Running"
    return "Pending"


def pod_status(
    pod: Mapping[str, Any],
    containers: list[ContainerState],
    pod_ip: str,
    host_ip: str,
    start_time: str,
    now: str,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The full `status` of a pod on the local node (conditions keep their transition times)."""
    spec = pod.get("spec") or {}
    phase = pod_phase(spec.get("restartPolicy", "Always"), containers)
    images = {c["name"]: c.get("image", "") for c in spec.get("containers") or []}
    ready = phase == "Running" and all(c.state == "running" for c in containers)
    old = {c["type"]: c for c in (previous or {}).get("conditions") or []}

    def condition(kind: str, value: bool, reason: str = "") -> dict[str, Any]:
        status = "True" if value else "False"
        previous_condition = old.get(kind)
        since = (
            previous_condition["lastTransitionTime"]
            if previous_condition and previous_condition.get("status") == status
            else now
        )
        out = {"type": kind, "status": status, "lastTransitionTime": since}
        if reason and not value:
            out["reason"] = reason
        return out

    not_ready = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
    # qosClass is set by the API server at creation and immutable: echo it, never guess it.
    qos = {"qosClass": q} if (q := (pod.get("status") or {}).get("qosClass")) else {}
    return {
        **qos,
        "phase": phase,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start_time,
        "conditions": [
            condition("PodReadyToStartContainers", True),
            condition("Initialized", True),
            condition("Ready", ready, not_ready),
            condition("ContainersReady", ready, not_ready),
            condition("PodScheduled", True),
        ],
        "containerStatuses": [c.as_status(images.get(c.name, "")) for c in containers],
    }
