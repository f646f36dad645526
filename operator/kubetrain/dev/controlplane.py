"""The Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.

The argv builders are pure (tested without starting anything); `start` runs each component
under the supervisor and waits until it answers. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path

from kubetrain.dev import pki as pki_mod
from kubetrain.dev.config import DevConfig
from kubetrain.dev.layout import Layout
from kubetrain.dev.processes import Supervisor, wait_until

HOST = "127.0.0.1"


def etcd_argv(bin_dir: Path, config: DevConfig, layout: Layout) -> list[str]:
    client = f"http://{HOST}:{config.ports.etcd_client}"
    peer = f"http://{HOST}:{config.ports.etcd_peer}"
    return [
        str(bin_dir / "etcd"),
        "--name=kubetrain-dev",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=kubetrain-dev={peer}",
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def apiserver_argv(bin_dir: Path, config: DevConfig, layout: Layout) -> list[str]:
    keys = pki_mod.Pki(layout.pki)
    kubelet_client = pki_mod.APISERVER_KUBELET_CLIENT
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://{HOST}:{config.ports.etcd_client}",
        f"--bind-address={HOST}",
        f"--advertise-address={HOST}",
        f"--secure-port={config.ports.apiserver}",
        f"--tls-cert-file={keys.serving_cert}",
        f"--tls-private-key-file={keys.serving_key}",
        f"--client-ca-file={keys.ca_cert}",
        f"--service-account-key-file={keys.sa_public_key}",
        f"--service-account-signing-key-file={keys.sa_private_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={config.service_cidr}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction,PodSecurity",
        "--allow-privileged=true",
        f"--kubelet-client-certificate={keys.client_cert(kubelet_client)}",
        f"--kubelet-client-key={keys.client_key(kubelet_client)}",
        "--kubelet-preferred-address-types=InternalIP",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_argv(bin_dir: Path, config: DevConfig, layout: Layout) -> list[str]:
    keys = pki_mod.Pki(layout.pki)
    kubeconfig = layout.component_kubeconfig(pki_mod.CONTROLLER_MANAGER)
    return [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={HOST}",
        f"--secure-port={config.ports.controller_manager}",
        f"--service-account-private-key-file={keys.sa_private_key}",
        f"--root-ca-file={keys.ca_cert}",
        f"--cluster-signing-cert-file={keys.ca_cert}",
        f"--cluster-signing-key-file={keys.ca_key}",
        f"--service-cluster-ip-range={config.service_cidr}",
        "--use-service-account-credentials=true",
        "--controllers=*",
        "--leader-elect=false",
        # Evict from a dead node quickly rather than after the production default of 5 min.
        "--node-monitor-grace-period=40s",
        "--v=1",
    ]


def scheduler_argv(bin_dir: Path, config: DevConfig, layout: Layout) -> list[str]:
    kubeconfig = layout.component_kubeconfig(pki_mod.SCHEDULER)
    return [
        str(bin_dir / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={HOST}",
        f"--secure-port={config.ports.scheduler}",
        "--leader-elect=false",
        "--v=1",
    ]


def _https_ok(url: str, keys: pki_mod.Pki, who: pki_mod.ClientIdentity | None = None) -> bool:
    context = ssl.create_default_context(cafile=str(keys.ca_cert))
    if who is None:
        # Components' own endpoints use self-signed serving certificates.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_cert_chain(str(keys.client_cert(who)), str(keys.client_key(who)))
    with urllib.request.urlopen(url, context=context, timeout=3) as response:
        return bool(response.status == 200)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=3) as response:
        return bool(response.status == 200)


def apiserver_url(config: DevConfig) -> str:
    return f"https://{HOST}:{config.ports.apiserver}"


def start(bin_dir: Path, config: DevConfig, layout: Layout, sup: Supervisor) -> None:
    """Start (or keep) each component in order, each answering before the next starts."""
    keys = pki_mod.Pki(layout.pki)
    sup.start("etcd", etcd_argv(bin_dir, config, layout))
    wait_until(
        lambda: _http_ok(f"http://{HOST}:{config.ports.etcd_client}/health"),
        60,
        "etcd to report healthy",
        supervisor=sup,
        component="etcd",
    )
    sup.start("kube-apiserver", apiserver_argv(bin_dir, config, layout))
    wait_until(
        lambda: _https_ok(f"{apiserver_url(config)}/readyz", keys, pki_mod.ADMIN),
        120,
        "kube-apiserver to be ready",
        supervisor=sup,
        component="kube-apiserver",
    )
    sup.start("kube-controller-manager", controller_manager_argv(bin_dir, config, layout))
    sup.start("kube-scheduler", scheduler_argv(bin_dir, config, layout))
    for name, port in (
        ("kube-controller-manager", config.ports.controller_manager),
        ("kube-scheduler", config.ports.scheduler),
    ):
        wait_until(
            lambda port=port: _https_ok(f"https://{HOST}:{port}/healthz", keys),  # type: ignore[misc]
            90,
            f"{name} to be healthy",
            supervisor=sup,
            component=name,
        )
