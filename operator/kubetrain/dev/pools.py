"""Simulated node pools: Node objects that kwok keeps alive and whose pods it fakes.

kwok manages only the nodes annotated `kwok.x-k8s.io/node: fake`; the `local` node is not, so
kwok never touches it or its pods. Each node carries its pool's name under
`kubetrain.io/pool`, which compute profiles select on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubetrain.dev.config import (
    GPU_RESOURCE,
    KWOK_NODE_ANNOTATION,
    POOL_LABEL,
    DevConfig,
    NodePool,
)
from kubetrain.dev.layout import Layout


def node_name(pool: NodePool, index: int) -> str:
    return f"{pool.name}-{index}"


def build_node(pool: NodePool, index: int) -> dict[str, Any]:
    """The Node object of the `index`-th node of `pool`."""
    name = node_name(pool, index)
    capacity = {"cpu": pool.cpu, "memory": pool.memory, "pods": str(pool.max_pods)}
    if pool.gpus:
        capacity[GPU_RESOURCE] = str(pool.gpus)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        POOL_LABEL: pool.name,
        **({"node.kubernetes.io/instance-type": pool.instance_type} if pool.instance_type else {}),
        **pool.labels,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {
            "taints": [t.model_dump() for t in pool.taints],
        },
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "containerRuntimeVersion": "kwok",
            },
        },
    }


def build_nodes(config: DevConfig) -> list[dict[str, Any]]:
    return [build_node(pool, i) for pool in config.pools for i in range(pool.nodes)]


def kwok_argv(bin_dir: Path, config: DevConfig, layout: Layout, kubeconfig: Path) -> list[str]:
    return [
        str(bin_dir / "kwok"),
        f"--kubeconfig={kubeconfig}",
        f"--config={bin_dir / 'kwok-stages.yaml'}",
        f"--config={layout.kwok_config}",  # stages of our own (see cluster.py)
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        f"--server-address=127.0.0.1:{config.ports.kwok}",
        "--node-ip=10.244.0.1",
        "--cidr=10.244.0.0/16",
        "--node-lease-duration-seconds=40",
    ]
