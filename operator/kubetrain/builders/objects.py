"""The non-pod children: the resolved spec (ConfigMap), the Ray token (Secret), the
attempt's headless Service that names the Ray head inside the cluster, and the NetworkPolicy
that keeps the job's ports to the job's own pods."""

from __future__ import annotations

import json
from typing import Any

from kubetrain.api.contract import SPEC_FILE
from kubetrain.builders import naming
from kubetrain.builders.naming import ROLE_HEAD, JobRef
from kubetrain.builders.pods import ray_ports
from kubetrain.config import OperatorConfig


def spec_config_map(job: JobRef, resolved: dict[str, Any]) -> dict[str, Any]:
    """The resolved TrainingJob (defaults applied, profile resolved) the trainer reads."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": naming.metadata(job, naming.spec_config_map(job)),
        "data": {SPEC_FILE: json.dumps(resolved, indent=2, sort_keys=True)},
    }


def ray_token_secret(job: JobRef, token: str) -> dict[str, Any]:
    """The job's Ray token; created once, never rewritten (see kube.create_if_absent)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": naming.metadata(job, naming.ray_secret(job)),
        "type": "Opaque",
        "stringData": {"token": token},
    }


def job_network_policy(job: JobRef) -> dict[str, Any]:
    """Ingress to the job's pods only from the job's pods: Ray's GCS, object manager and
    worker ports are reachable by no other job (a kubelet's probes are not affected)."""
    own = {"matchLabels": {naming.LABEL_JOB: job.name}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": naming.metadata(job, naming.network_policy(job)),
        "spec": {
            "podSelector": own,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": own}]}],
        },
    }


def head_service(job: JobRef, attempt: int, config: OperatorConfig) -> dict[str, Any]:
    """Headless: the Ray ports are reachable only inside the cluster, by the head's name."""
    ports = ray_ports(job, attempt, config)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": naming.metadata(job, naming.service(job, attempt), attempt),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": naming.labels(job, attempt, ROLE_HEAD),
            "ports": [
                {"name": "gcs", "port": ports.gcs, "targetPort": ports.gcs},
                {"name": "dashboard", "port": ports.dashboard, "targetPort": ports.dashboard},
            ],
        },
    }
