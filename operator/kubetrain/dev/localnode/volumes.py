"""Pod volumes on the local node: each becomes a directory under the pod's directory.

emptyDir, configMap, secret, downwardAPI, projected (service-account token, configMap, secret,
downwardAPI) and hostPath are supported; anything else is a PodConfigError that names it.
The service-account token comes from the TokenRequest API, bound to the pod, exactly as a
kubelet gets it, so in-cluster clients authenticate with the pod's own identity.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kubetrain.dev.localnode.podspec import PodConfigError, field_ref


class VolumeSource(Protocol):
    """What volumes read from the API server (implemented by the kubelet's client)."""

    def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None: ...

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None: ...

    def token(
        self, pod: Mapping[str, Any], audience: str | None, expiration_seconds: int
    ) -> str: ...


@dataclass(frozen=True)
class Mount:
    """A bind mount into the container's private mount namespace."""

    source: Path
    target: str
    read_only: bool


def _write_items(
    target: Path, data: Mapping[str, bytes], items: list[dict[str, Any]] | None, mode: int
) -> None:
    if items:
        selected = {}
        for item in items:
            if item["key"] not in data:
                raise PodConfigError(f'key "{item["key"]}" not found')
            selected[item["path"]] = (data[item["key"]], item.get("mode", mode))
    else:
        selected = {key: (value, mode) for key, value in data.items()}
    for rel, (value, file_mode) in selected.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)
        path.chmod(file_mode)


def _downward_items(
    pod: Mapping[str, Any], items: list[dict[str, Any]], pod_ip: str
) -> dict[str, bytes]:
    out = {}
    for item in items:
        if "fieldRef" not in item:
            raise PodConfigError(f"downwardAPI item {item.get('path')}: only fieldRef is supported")
        out[item["path"]] = field_ref(
            pod, item["fieldRef"]["fieldPath"], pod_ip, "127.0.0.1"
        ).encode()
    return {k: v for k, v in out.items()}


def _require(data: dict[str, bytes] | None, kind: str, ref: Mapping[str, Any]) -> dict[str, bytes]:
    if data is None:
        if ref.get("optional"):
            return {}
        raise PodConfigError(f'{kind} "{ref.get("name") or ref.get("secretName")}" not found')
    return data


def _projected(
    pod: Mapping[str, Any], spec: Mapping[str, Any], target: Path, api: VolumeSource, pod_ip: str
) -> None:
    namespace = pod["metadata"].get("namespace", "default")
    mode = spec.get("defaultMode", 0o644)
    for source in spec.get("sources") or []:
        if "serviceAccountToken" in source:
            sat = source["serviceAccountToken"]
            token = api.token(pod, sat.get("audience"), int(sat.get("expirationSeconds", 3607)))
            _write_items(target, {sat["path"]: token.encode()}, None, 0o600)
        elif "configMap" in source:
            ref = source["configMap"]
            data = _require(api.config_map(namespace, ref["name"]), "ConfigMap", ref)
            _write_items(target, data, ref.get("items"), mode)
        elif "secret" in source:
            ref = source["secret"]
            data = _require(api.secret(namespace, ref["name"]), "Secret", ref)
            _write_items(target, data, ref.get("items"), mode)
        elif "downwardAPI" in source:
            items = source["downwardAPI"].get("items") or []
            _write_items(target, _downward_items(pod, items, pod_ip), None, mode)
        else:
            raise PodConfigError(f"projected volume source {sorted(source)} is not supported")


def materialize(
    pod: Mapping[str, Any], volumes_dir: Path, api: VolumeSource, pod_ip: str
) -> dict[str, Path]:
    """Create every volume of the pod; returns volume name -> directory on this machine."""
    namespace = pod["metadata"].get("namespace", "default")
    paths: dict[str, Path] = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        name = volume["name"]
        if "hostPath" in volume:
            paths[name] = Path(volume["hostPath"]["path"])
            continue
        target = volumes_dir / name
        if "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
            paths[name] = target
            continue
        # Re-created on every (re)start so that updated Secrets and ConfigMaps are seen.
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        try:
            if "configMap" in volume:
                ref = volume["configMap"]
                data = _require(api.config_map(namespace, ref["name"]), "ConfigMap", ref)
                _write_items(target, data, ref.get("items"), ref.get("defaultMode", 0o644))
            elif "secret" in volume:
                ref = volume["secret"]
                data = _require(api.secret(namespace, ref["secretName"]), "Secret", ref)
                _write_items(target, data, ref.get("items"), ref.get("defaultMode", 0o644))
            elif "downwardAPI" in volume:
                items = volume["downwardAPI"].get("items") or []
                _write_items(target, _downward_items(pod, items, pod_ip), None, 0o644)
            elif "projected" in volume:
                _projected(pod, volume["projected"], target, api, pod_ip)
            else:
                kinds = sorted(k for k in volume if k != "name")
                raise PodConfigError(f"volume type {kinds} is not supported by the local node")
        except PodConfigError as exc:
            raise PodConfigError(f'volume "{name}": {exc}') from exc
        paths[name] = target
    return paths


def mounts(container: Mapping[str, Any], volume_paths: Mapping[str, Path]) -> list[Mount]:
    """The container's volumeMounts as bind mounts, in declaration order."""
    out = []
    for vm in container.get("volumeMounts") or []:
        if vm["name"] not in volume_paths:
            raise PodConfigError(f'volumeMount "{vm["name"]}": no such volume in the pod')
        source = volume_paths[vm["name"]]
        if vm.get("subPath"):
            source = source / vm["subPath"]
            if not source.exists():
                source.mkdir(parents=True)
        out.append(Mount(source, vm["mountPath"], bool(vm.get("readOnly"))))
    return out


def decode_secret(data: Mapping[str, str] | None) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (data or {}).items()}
