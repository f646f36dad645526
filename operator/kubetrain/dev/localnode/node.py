"""The local node as the API server sees it: the Node object, its status, and its Lease.

`register` creates the Node (or takes over the one a previous run left) and writes its status;
`Heartbeat` then renews the node's Lease in `kube-node-lease` every 10 s and rewrites the
status every minute, exactly the two signals the node lifecycle controller reads to keep a
node Ready. The node is tainted so that only pods that tolerate it (the local pool) land here.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

log = logging.getLogger("kubetrain.localnode")

LEASE_SECONDS = 40
LEASE_NAMESPACE = "kube-node-lease"
HEARTBEAT_SECONDS = 10.0
STATUS_SECONDS = 60.0


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class NodeSettings:
    """What `kubetrain dev up` tells the local node (written as JSON, read by __main__)."""

    name: str
    pool: str
    pool_label: str
    taint_key: str
    cpu: str
    memory: str
    max_pods: int
    pods_dir: Path
    apiserver_port: int
    kubelet_port: int
    state_dir: Path
    serving_cert: Path
    serving_key: Path
    client_ca: Path
    pod_ip_block: int = 0


_CONDITIONS = [
    ("Ready", "True", "KubeletReady", "the local node runs pods as processes"),
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", ""),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", ""),
    ("PIDPressure", "False", "KubeletHasSufficientPID", ""),
]


def node_status(settings: NodeSettings) -> dict[str, Any]:
    """The Node's status: capacity, addresses, conditions (all fine) and node info."""
    s = settings
    capacity = {"cpu": s.cpu, "memory": s.memory, "pods": str(s.max_pods)}
    now = now_iso()
    return {
        "capacity": capacity,
        "allocatable": capacity,
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": s.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": s.kubelet_port}},
        "conditions": [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for kind, status, reason, message in _CONDITIONS
        ],
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "kubeletVersion": "kubetrain-local",
            "kubeProxyVersion": "",
            "containerRuntimeVersion": "process://local",
            "osImage": "this machine",
            "kernelVersion": os.uname().release,
            "bootID": "",
            "machineID": "",
            "systemUUID": "",
        },
    }


def node_body(settings: NodeSettings) -> dict[str, Any]:
    """The Node object: labelled with its pool, tainted so only the local pool lands here."""
    s = settings
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": s.name,
            "labels": {
                "kubernetes.io/hostname": s.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "local",
                s.pool_label: s.pool,
            },
        },
        "spec": {"taints": [{"key": s.taint_key, "value": "true", "effect": "NoSchedule"}]},
        "status": node_status(s),
    }


def register(core: client.CoreV1Api, settings: NodeSettings) -> None:
    """Create the Node, or keep the existing one; either way write its status now."""
    body = node_body(settings)
    try:
        core.create_node(body)
    except ApiException as exc:
        if exc.status != 409:
            raise
    core.patch_node_status(settings.name, {"status": body["status"]})


class Heartbeat:
    """Renews the node's Lease and, less often, its status, until `stopping` is set."""

    def __init__(
        self, api: client.ApiClient, settings: NodeSettings, stopping: threading.Event
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.settings = settings
        self.stopping = stopping

    def run(self) -> None:
        last_status = 0.0
        while not self.stopping.is_set():
            try:
                self.renew_lease()
                if time.monotonic() - last_status > STATUS_SECONDS:
                    status = node_status(self.settings)
                    self.core.patch_node_status(self.settings.name, {"status": status})
                    last_status = time.monotonic()
            except Exception:
                log.exception("heartbeat failed")
            self.stopping.wait(HEARTBEAT_SECONDS)

    def renew_lease(self) -> None:
        name = self.settings.name
        renew = dt.datetime.now(dt.UTC)
        try:
            self.coordination.patch_namespaced_lease(
                name, LEASE_NAMESPACE, {"spec": {"renewTime": renew, "holderIdentity": name}}
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease(LEASE_NAMESPACE, self._lease(renew))

    def _lease(self, renew: dt.datetime) -> dict[str, Any]:
        """A new Lease, owned by the Node so that deleting the node deletes it."""
        name = self.settings.name
        node = self.core.read_node(name)
        owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node.metadata.uid}
        return {
            "metadata": {"name": name, "ownerReferences": [owner]},
            "spec": {
                "holderIdentity": name,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": renew,
            },
        }
