"""Bring the whole dev cluster up, report on it, and take it down.

`up` is idempotent: every step keeps what already runs or exists (certificates, processes,
nodes, the bucket, the credentials Secret), so a second `up` takes seconds. `down` stops every
process it started, by pid file, the local node's container processes included.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from kubetrain.dev import binaries, controlplane, kubeconfig, kueue, pki, pools, s3
from kubetrain.dev.config import LOCAL_NODE_TAINT_KEY, POOL_LABEL, DevConfig
from kubetrain.dev.config import load as load_config
from kubetrain.dev.layout import Layout
from kubetrain.dev.processes import DevClusterError, Supervisor, terminate, wait_until

Progress = Callable[[str], None]

# Stopped in this order: the local node first (it stops its pods), the store of state last.
COMPONENTS = (
    "local-node",
    "kwok",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
    s3.COMPONENT,
)
OPTIONAL = (kueue.COMPONENT,)
"""Run when the config enables them; stopped before the others."""


@dataclass(frozen=True)
class S3Info:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    secret_name: str
    secret_namespaces: list[str]


@dataclass(frozen=True)
class ClusterInfo:
    """What `up` returns and `status --json` prints."""

    kubeconfig: Path
    apiserver: str
    bin_dir: Path
    state_dir: Path
    s3: S3Info

    def as_json(self) -> dict[str, Any]:
        plain: dict[str, Any] = json.loads(json.dumps(asdict(self), default=str))
        return plain


def _clients(config: DevConfig) -> list[pki.ClientIdentity]:
    return [
        pki.ADMIN,
        pki.CONTROLLER_MANAGER,
        pki.SCHEDULER,
        pki.KWOK,
        pki.APISERVER_KUBELET_CLIENT,
        pki.node_identity(config.local_node.name),
        *([pki.KUEUE] if config.kueue.enabled else []),
    ]


def _components(config: DevConfig, sup: Supervisor) -> list[str]:
    """What makes up this cluster: Kueue too when the config enables it or it runs."""
    kueue_on = config.kueue.enabled or sup.get(kueue.COMPONENT) is not None
    return [*([kueue.COMPONENT] if kueue_on else []), *COMPONENTS]


def _write_kubeconfigs(config: DevConfig, layout: Layout, keys: pki.Pki) -> None:
    server = controlplane.apiserver_url(config)
    for who in _clients(config):
        path = layout.kubeconfig if who == pki.ADMIN else layout.component_kubeconfig(who)
        body = kubeconfig.build(
            config.cluster_name,
            server,
            keys.ca_cert,
            who.user,
            keys.client_cert(who),
            keys.client_key(who),
        )
        kubeconfig.write(path, body)


def _api(path: Path) -> Any:
    from kubernetes import config as kube_config

    return kube_config.new_client_from_config(config_file=str(path))


def _create_if_absent(create: Callable[[], object]) -> None:
    from kubernetes.client.rest import ApiException

    try:
        create()
    except ApiException as exc:
        if exc.status != 409:
            raise


def _ensure_nodes(core: Any, config: DevConfig) -> None:
    for node in pools.build_nodes(config):
        _create_if_absent(partial(core.create_node, node))


def _ensure_s3_secret(core: Any, config: DevConfig, endpoint: s3.S3Endpoint) -> None:
    data = {
        "AWS_ACCESS_KEY_ID": endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
        "AWS_ENDPOINT_URL": endpoint.endpoint,
        "AWS_REGION": "us-east-1",
        "bucket": endpoint.bucket,
    }
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    for namespace in config.s3.secret_namespaces:
        _create_if_absent(partial(core.create_namespace, {"metadata": {"name": namespace}}))
        body = {
            "metadata": {
                "name": config.s3.secret_name,
                "labels": {"app.kubernetes.io/part-of": "kubetrain-dev"},
            },
            "type": "Opaque",
            "data": encoded,
        }
        from kubernetes.client.rest import ApiException

        try:
            core.replace_namespaced_secret(config.s3.secret_name, namespace, body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            core.create_namespaced_secret(namespace, body)


def _nodes_ready(core: Any, names: set[str]) -> bool:
    ready = set()
    for node in core.list_node().items:
        for cond in node.status.conditions or []:
            if cond.type == "Ready" and cond.status == "True":
                ready.add(node.metadata.name)
    return names <= ready


def _start_local_node(config: DevConfig, layout: Layout, sup: Supervisor, keys: pki.Pki) -> None:
    settings = {
        "name": config.local_node.name,
        "pool": config.local_node.pool,
        "pool_label": POOL_LABEL,
        "taint_key": LOCAL_NODE_TAINT_KEY,
        "cpu": config.local_node.cpu,
        "memory": config.local_node.memory,
        "max_pods": config.local_node.max_pods,
        "pod_ip_block": config.local_node.pod_ip_block,
        "pods_dir": str(layout.pods),
        "apiserver_port": config.ports.apiserver,
        "kubelet_port": config.ports.kubelet,
        "state_dir": str(layout.root),
        "serving_cert": str(keys.kubelet_serving_cert),
        "serving_key": str(keys.kubelet_serving_key),
        "client_ca": str(keys.ca_cert),
    }
    settings_file = layout.root / "local-node.json"
    settings_file.write_text(json.dumps(settings, indent=2))
    node_kubeconfig = layout.component_kubeconfig(pki.node_identity(config.local_node.name))
    sup.start(
        "local-node",
        [sys.executable, "-m", "kubetrain.dev.localnode", str(settings_file), str(node_kubeconfig)],
    )


def up(config: DevConfig | None = None, progress: Progress = lambda _m: None) -> ClusterInfo:
    """Start whatever of the dev cluster is not running yet; return how to reach it."""
    config = config or load_config(None)
    layout = Layout(config.state_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(layout.run, layout.logs)
    started = time.monotonic()

    bin_dir = binaries.bin_dir(progress)
    keys = pki.ensure(layout.pki, _clients(config))
    _write_kubeconfigs(config, layout, keys)

    progress("control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler")
    controlplane.start(bin_dir, config, layout, sup)

    from kubernetes import client

    api = _api(layout.kubeconfig)
    core = client.CoreV1Api(api)

    progress("node pools: " + ", ".join(f"{p.name} ({p.nodes} nodes)" for p in config.pools))
    # Always there, so that Kueue enabled later finds kwok ready for its pods.
    layout.kwok_config.write_text(yaml.safe_dump_all([kueue.kwok_stage(), *pools.outcome_stages()]))
    sup.start(
        "kwok",
        pools.kwok_argv(bin_dir, config, layout, layout.component_kubeconfig(pki.KWOK)),
    )
    _ensure_nodes(core, config)

    progress("S3 store: SeaweedFS with authentication")
    endpoint = s3.start(
        sup,
        binaries.weed(),
        layout.weed,
        layout.s3_identities,
        s3.S3Ports(
            config.ports.s3,
            config.ports.weed_master,
            config.ports.weed_volume,
            config.ports.weed_filer,
        ),
        config.s3.bucket,
    )
    _ensure_s3_secret(core, config, endpoint)

    progress(f"local node {config.local_node.name!r}: pods run as processes on this machine")
    _start_local_node(config, layout, sup, keys)
    names = {pools.node_name(p, i) for p in config.pools for i in range(p.nodes)}
    names.add(config.local_node.name)
    wait_until(
        lambda: _nodes_ready(core, names),
        90,
        "every node to be Ready",
        supervisor=sup,
        component=("local-node", "kwok"),
    )
    # Pods cannot be created in a namespace before its default ServiceAccount exists.
    wait_until(
        lambda: core.read_namespaced_service_account("default", "default") is not None,
        60,
        "the default ServiceAccount",
    )
    if config.kueue.enabled:
        progress("Kueue: admission of queued pods, webhooks on 127.0.0.1")
        kueue.start(binaries.kueue_dir(progress), bin_dir / "kubectl", config, layout, sup)

    info = ClusterInfo(
        kubeconfig=layout.kubeconfig,
        apiserver=controlplane.apiserver_url(config),
        bin_dir=bin_dir,
        state_dir=layout.root,
        s3=S3Info(
            endpoint=endpoint.endpoint,
            access_key=endpoint.access_key,
            secret_key=endpoint.secret_key,
            bucket=endpoint.bucket,
            secret_name=config.s3.secret_name,
            secret_namespaces=list(config.s3.secret_namespaces),
        ),
    )
    layout.state_file.write_text(json.dumps(info.as_json(), indent=2))
    layout.state_file.chmod(0o600)
    progress(f"ready in {time.monotonic() - started:.1f}s")
    return info


def _leftover_container_pids(layout: Layout) -> list[int]:
    pids = []
    for pid_file in layout.pods.glob("*/*/*/*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(pid_file.read_text()))
    return pids


def down(config: DevConfig | None = None, progress: Progress = lambda _m: None) -> list[str]:
    """Stop every process of the dev cluster; return the names of what was stopped."""
    config = config or load_config(None)
    layout = Layout(config.state_dir)
    sup = Supervisor(layout.run, layout.logs)
    stopped = []
    for name in (*OPTIONAL, *COMPONENTS):
        grace = s3.STOP_GRACE_SECONDS if name == s3.COMPONENT else 15.0
        if sup.stop(name, grace=grace):
            progress(f"stopped {name}")
            stopped.append(name)
    for pid in _leftover_container_pids(layout):
        terminate(pid, None, 2)
    for leftover in sup.tracked():  # anything recorded that is not a known component
        sup.stop(leftover.name)
        stopped.append(leftover.name)
    return stopped


def status(config: DevConfig | None = None) -> dict[str, Any]:
    """What runs, and how to reach the cluster and its S3 store."""
    config = config or load_config(None)
    layout = Layout(config.state_dir)
    sup = Supervisor(layout.run, layout.logs)
    components = {}
    for name in _components(config, sup):
        tracked = sup.get(name)
        components[name] = {
            "running": tracked is not None,
            "pid": tracked.pid if tracked else None,
            "log": str(sup.log_path(name)),
        }
    saved: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(layout.state_file.read_text())
    return {
        "running": all(c["running"] for c in components.values()),
        "stateDir": str(layout.root),
        "kubeconfig": str(layout.kubeconfig),
        "apiserver": controlplane.apiserver_url(config),
        "components": components,
        "s3": {
            "endpoint": saved.get("s3", {}).get("endpoint"),
            "bucket": saved.get("s3", {}).get("bucket"),
            "credentialsSecret": {
                "name": config.s3.secret_name,
                "namespaces": list(config.s3.secret_namespaces),
                "keys": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"],
            },
        },
        "nodePools": [
            {"name": p.name, "nodes": p.nodes, "cpu": p.cpu, "memory": p.memory, "gpus": p.gpus}
            for p in config.pools
        ]
        + [{"name": config.local_node.pool, "nodes": 1, "local": True}],
    }


def require_running(config: DevConfig | None = None) -> None:
    if not status(config)["running"]:
        raise DevClusterError("the dev cluster is not running: start it with `kubetrain dev up`")
