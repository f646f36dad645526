"""What a pod's volumes and environment read from the API server, over the node's client.

ConfigMaps and Secrets (missing or forbidden ones read as None, so the caller can name them in
a CreateContainerConfigError) and service-account tokens from the TokenRequest API, bound to
the pod exactly as a kubelet gets them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from kubetrain.dev.localnode import podspec, volumes

MIN_TOKEN_SECONDS = 600
"""The TokenRequest API refuses shorter tokens."""


class ApiVolumeSource:
    """volumes.VolumeSource over the node's API client."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core = core

    def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        try:
            cm = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise
        data = {k: v.encode() for k, v in (cm.data or {}).items()}
        data.update(volumes.decode_secret(cm.binary_data))
        return data

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise
        return volumes.decode_secret(secret.data)

    def token(self, pod: Mapping[str, Any], audience: str | None, expiration_seconds: int) -> str:
        meta = pod["metadata"]
        body = {
            "spec": {
                "audiences": [audience] if audience else None,
                "expirationSeconds": max(expiration_seconds, MIN_TOKEN_SECONDS),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            }
        }
        sa = pod["spec"].get("serviceAccountName") or "default"
        result = self.core.create_namespaced_service_account_token(sa, meta["namespace"], body)
        return str(result.status.token)


def env_sources(source: volumes.VolumeSource, namespace: str) -> podspec.EnvSources:
    """The env lookups of `podspec.container_env` (valueFrom, envFrom) for one namespace."""

    def text(data: dict[str, bytes] | None) -> dict[str, str] | None:
        return None if data is None else {k: v.decode() for k, v in data.items()}

    return podspec.EnvSources(
        config_map_key=lambda n, k: (text(source.config_map(namespace, n)) or {}).get(k),
        secret_key=lambda n, k: (text(source.secret(namespace, n)) or {}).get(k),
        config_map=lambda n: text(source.config_map(namespace, n)),
        secret=lambda n: text(source.secret(namespace, n)),
    )
