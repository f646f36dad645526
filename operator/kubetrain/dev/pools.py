"""Simulated node pools: Node objects that kwok keeps alive and whose pods it fakes.

kwok manages only the nodes annotated `kwok.x-k8s.io/node: fake`; the `local` node is not, so
kwok never touches it or its pods. Each node carries its pool's name under
`kubetrain.io/pool`, which compute profiles select on.

kwok's own stages leave a pod Running for ever. A pod that selects nodes labelled
`OUTCOME_LABEL` (a profile's nodeSelector can) is ended by kwok a few seconds after it runs,
as its trainer would end: `succeed` exits 0; `fail-first` exits 1 in attempt 1 and 0 in later
attempts (the operator then retries). Benchmarks and fault tests use this to run whole
lifecycles on simulated nodes (benchmarks/operator_scale.py).
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

OUTCOME_LABEL = "kubetrain.io/kwok-outcome"
OUTCOMES = ("succeed", "fail-first")
RUN_MILLISECONDS = 3000
"""How long kwok lets such a pod run (plus up to `RUN_JITTER_MILLISECONDS`)."""
RUN_JITTER_MILLISECONDS = 2000


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


def outcome_stages() -> list[dict[str, Any]]:
    """The kwok Stages that end the pods which select an `OUTCOME_LABEL` node (see above)."""
    return [
        _outcome_stage("succeed", "succeed", None, 0),
        _outcome_stage("fail-first-fail", "fail-first", "In", 1),
        _outcome_stage("fail-first-retry", "fail-first", "NotIn", 0),
    ]


def _outcome_stage(name: str, outcome: str, first: str | None, exit_code: int) -> dict[str, Any]:
    match = [
        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
        {"key": ".status.phase", "operator": "In", "values": ["Running"]},
        {"key": f'.spec.nodeSelector["{OUTCOME_LABEL}"]', "operator": "In", "values": [outcome]},
    ]
    if first is not None:
        key = '.metadata.labels["kubetrain.io/attempt"]'
        match.append({"key": key, "operator": first, "values": ["1"]})
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": f"kubetrain-outcome-{name}"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": match},
            "delay": {
                "durationMilliseconds": RUN_MILLISECONDS,
                "jitterDurationMilliseconds": RUN_MILLISECONDS + RUN_JITTER_MILLISECONDS,
            },
            "next": {"statusTemplate": _ENDED.replace("EXIT", str(exit_code))},
        },
    }


_ENDED = """\
{{ $now := Now }}
{{ $started := or .status.startTime $now }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: EXIT
      finishedAt: {{ $now | Quote }}
      reason: {{ if eq EXIT 0 }}Completed{{ else }}Error{{ end }}
      startedAt: {{ $started | Quote }}
{{ end }}
phase: {{ if eq EXIT 0 }}Succeeded{{ else }}Failed{{ end }}
"""
