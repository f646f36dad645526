"""Kueue in the dev cluster (opt-in): queued pods are admitted in groups against quotas.

`hack/build-kueue.sh` builds Kueue's manager from its Go module and takes its CRDs and webhook
manifests from the same module. Here Kueue runs as a supervised process like the control
plane: its own client certificate and kubeconfig, its webhook server on 127.0.0.1 with a
serving certificate from the dev cluster's CA, and the webhook configurations (and the CRDs'
conversion webhooks) pointing at it by `url:`. Only the `pod` integration is on.

Pod creation must never depend on Kueue where Kueue is not used: the pod webhooks see only
pods that carry the label `kueue.x-k8s.io/queue-name` (an objectSelector), never those of
kube-system or Kueue's namespace, so a stopped Kueue blocks nothing but queued pods.

The builders are pure (tested without a cluster); `start` applies and runs them.
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from kubetrain.dev import pki as pki_mod
from kubetrain.dev.config import DevConfig
from kubetrain.dev.layout import Layout
from kubetrain.dev.processes import DevClusterError, Supervisor, wait_until

COMPONENT = "kueue"
HOST = "127.0.0.1"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
POD_WEBHOOKS = ("mpod.kb.io", "vpod.kb.io")
KUEUE_API_GROUP = "kueue.x-k8s.io"
FIELD_MANAGER = "kubetrain-dev"


def webhook_url(config: DevConfig, path: str = "") -> str:
    return f"https://{HOST}:{config.ports.kueue_webhook}{path}"


def cert_dir(layout: Layout) -> Path:
    """Kueue's webhook server reads tls.crt and tls.key from here."""
    return layout.kueue / "certs"


def _excluded_namespaces(config: DevConfig) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["kube-system", config.kueue.namespace],
            }
        ]
    }


def configuration(config: DevConfig, layout: Layout) -> dict[str, Any]:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2) for the dev cluster."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": config.kueue.namespace,
        "health": {"healthProbeBindAddress": f"{HOST}:{config.ports.kueue_health}"},
        "metrics": {"bindAddress": "0"},  # off: nothing scrapes it here
        "webhook": {
            "host": HOST,
            "port": config.ports.kueue_webhook,
            "certDir": str(cert_dir(layout)),
        },
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},  # the dev cluster's CA signs its cert
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": _excluded_namespaces(config),
        "integrations": {"frameworks": ["pod"]},
        # The visibility API server would listen on every interface, and needs an APIService.
        "featureGates": {"VisibilityOnDemand": False},
    }


def argv(bin_dir: Path, layout: Layout) -> list[str]:
    return [str(bin_dir / "kueue"), f"--config={layout.kueue / 'config.yaml'}"]


def crds(
    crds_yaml: str, conversion_yaml: str, config: DevConfig, ca: bytes
) -> list[dict[str, Any]]:
    """Kueue's CRDs; those whose conversion Kueue serves get its webhook by `url:`."""
    converted = {
        patch["metadata"]["name"]
        for patch in yaml.safe_load_all(conversion_yaml)
        if patch and (patch.get("spec") or {}).get("conversion", {}).get("strategy") == "Webhook"
    }
    out = []
    for crd in yaml.safe_load_all(crds_yaml):
        if not crd:
            continue
        if crd["metadata"]["name"] in converted:
            crd["spec"]["conversion"] = {
                "strategy": "Webhook",
                "webhook": {
                    "clientConfig": {"url": webhook_url(config, "/convert"), "caBundle": _b64(ca)},
                    "conversionReviewVersions": ["v1"],
                },
            }
        out.append(crd)
    return out


def webhook_configurations(
    manifests_yaml: str, config: DevConfig, ca: bytes
) -> list[dict[str, Any]]:
    """Kueue's webhook configurations, trimmed to what the dev cluster's Kueue serves (its own
    objects and plain pods), pointing at its server by `url:`."""
    out = []
    for doc in yaml.safe_load_all(manifests_yaml):
        if not doc:
            continue
        hooks = [_point(h, config, ca) for h in doc.get("webhooks") or [] if _served(h)]
        name = "kueue-" + doc["metadata"]["name"]
        out.append({**doc, "metadata": {"name": name}, "webhooks": hooks})
    return out


def _served(hook: dict[str, Any]) -> bool:
    groups = {g for rule in hook.get("rules") or [] for g in rule.get("apiGroups") or []}
    return hook["name"] in POD_WEBHOOKS or groups == {KUEUE_API_GROUP}


def _point(hook: dict[str, Any], config: DevConfig, ca: bytes) -> dict[str, Any]:
    path = hook["clientConfig"]["service"]["path"]
    hook = {**hook, "clientConfig": {"url": webhook_url(config, path), "caBundle": _b64(ca)}}
    if hook["name"] in POD_WEBHOOKS:
        hook["namespaceSelector"] = _excluded_namespaces(config)
        hook["objectSelector"] = {"matchExpressions": [{"key": QUEUE_LABEL, "operator": "Exists"}]}
    return hook


KUEUE_POD_FINALIZER = "kueue.x-k8s.io/managed"


def kwok_stage() -> dict[str, Any]:
    """A kwok Stage that stops a deleted pod Kueue manages the way a kubelet would: its
    containers terminate and its phase becomes Failed. Kueue removes its finalizer from a
    group's pods only once they are terminal, and kwok's own stages just delete pods, so
    without this a deleted queued job's pods would stay Terminating and hold their quota."""
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "kubetrain-kueue-pod-terminate"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {
                "matchExpressions": [
                    {"key": ".metadata.deletionTimestamp", "operator": "Exists"},
                    {
                        "key": ".metadata.finalizers.[]",
                        "operator": "In",
                        "values": [KUEUE_POD_FINALIZER],
                    },
                    {"key": ".status.phase", "operator": "In", "values": ["Pending", "Running"]},
                ]
            },
            # Chosen over kwok's own pod-delete stage (weight 0), which also matches.
            "weight": 1,
            "next": {"statusTemplate": _TERMINATED},
        },
    }


_TERMINATED = """\
{{ $now := Now }}
containerStatuses:
{{ range $index, $item := .spec.containers }}
- image: {{ $item.image | Quote }}
  name: {{ $item.name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: 143
      finishedAt: {{ $now | Quote }}
      reason: Error
      startedAt: {{ $now | Quote }}
{{ end }}
phase: Failed
"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kubectl(kubectl: Path, layout: Layout, *args: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        [str(kubectl), f"--kubeconfig={layout.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevClusterError(f"kubectl {args[0]} for Kueue failed: {result.stderr.strip()}")


def _kubectl_apply(kubectl: Path, layout: Layout, objects: list[dict[str, Any]]) -> None:
    """Server-side apply (Kueue's CRDs are too big for client-side apply's annotation)."""
    _kubectl(
        kubectl, layout, "apply", "--server-side", "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}", "-f", "-", stdin=yaml.safe_dump_all(objects),
    )  # fmt: skip


def _ready(config: DevConfig) -> bool:
    url = f"http://{HOST}:{config.ports.kueue_health}/readyz"
    with urllib.request.urlopen(url, timeout=3) as response:
        return bool(response.status == 200)


def start(
    kueue_dir: Path, kubectl: Path, config: DevConfig, layout: Layout, sup: Supervisor
) -> None:
    """Install Kueue's CRDs, run Kueue, then route its webhooks to it; keep what exists.

    `kueue_dir` holds the binary and manifests of hack/build-kueue.sh. Kueue's client
    certificate and kubeconfig are written with the other components' (pki.KUEUE).
    """
    keys = pki_mod.Pki(layout.pki)
    certs = cert_dir(layout)
    pki_mod.ensure_serving_cert(keys, certs / "tls.crt", certs / "tls.key", "kueue-webhook")
    ca = keys.ca_cert.read_bytes()
    (layout.kueue / "config.yaml").write_text(yaml.safe_dump(configuration(config, layout)))
    namespace = {"kind": "Namespace", "metadata": {"name": config.kueue.namespace}}
    definitions = crds(
        (kueue_dir / "kueue-crds.yaml").read_text(),
        (kueue_dir / "kueue-conversion.yaml").read_text(),
        config,
        ca,
    )
    _kubectl_apply(kubectl, layout, [{"apiVersion": "v1", **namespace}, *definitions])
    # Kueue sets up its indexes at once: its kinds must be served before it starts.
    _kubectl(kubectl, layout, "wait", "--for=condition=Established", "--timeout=60s",
             *(f"crd/{d['metadata']['name']}" for d in definitions))  # fmt: skip
    env = {
        **os.environ,
        "KUBECONFIG": str(layout.component_kubeconfig(pki_mod.KUEUE)),
        # Read by hack/build-kueue.sh's Kueue instead of /etc/kueue/metrics/certs (the metrics
        # server itself is off, but Kueue loads the certificate regardless).
        "KUEUE_METRICS_CERT_DIR": str(certs),
    }
    sup.start(COMPONENT, argv(kueue_dir, layout), env=env)
    wait_until(
        lambda: _ready(config), 120, "Kueue to be ready", supervisor=sup, component=COMPONENT
    )
    hooks = webhook_configurations((kueue_dir / "kueue-webhooks.yaml").read_text(), config, ca)
    _kubectl_apply(kubectl, layout, hooks)
