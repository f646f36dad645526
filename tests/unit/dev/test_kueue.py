"""The dev cluster's Kueue, built without a cluster: its configuration, and its CRDs and
webhook configurations pointed at its server on 127.0.0.1."""

from __future__ import annotations

import base64
from pathlib import Path

from kubetrain.dev import config, kueue, pools
from kubetrain.dev.layout import Layout

CA = b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
CFG = config.DevConfig(
    ports=config.Ports(kueue_webhook=19999), kueue=config.KueueConfig(enabled=True)
)

# Shaped like Kueue's config/components/webhook/manifests.yaml, abridged.
WEBHOOKS = """
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: mutating-webhook-configuration}
webhooks:
- name: mjob.kb.io
  clientConfig: {service: {name: webhook-service, namespace: system, path: /mutate-batch-v1-job}}
  failurePolicy: Fail
  rules: [{apiGroups: [batch], apiVersions: [v1], operations: [CREATE], resources: [jobs]}]
- name: mpod.kb.io
  clientConfig: {service: {name: webhook-service, namespace: system, path: /mutate--v1-pod}}
  failurePolicy: Fail
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
- name: mworkload.kb.io
  clientConfig:
    service:
      {name: webhook-service, namespace: system, path: /mutate-kueue-x-k8s-io-v1beta2-workload}
  failurePolicy: Fail
  rules:
  - {apiGroups: [kueue.x-k8s.io], apiVersions: [v1beta2], operations: [CREATE],
     resources: [workloads]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: validating-webhook-configuration}
webhooks:
- name: vpod.kb.io
  clientConfig: {service: {name: webhook-service, namespace: system, path: /validate--v1-pod}}
  failurePolicy: Fail
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}]
"""
CRDS = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: workloads.kueue.x-k8s.io}
spec: {group: kueue.x-k8s.io}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: resourceflavors.kueue.x-k8s.io}
spec: {group: kueue.x-k8s.io}
"""
CONVERSION = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: workloads.kueue.x-k8s.io}
spec:
  conversion:
    strategy: Webhook
    webhook:
      clientConfig: {service: {namespace: system, name: webhook-service, path: /convert}}
"""


def test_kueue_is_off_unless_enabled() -> None:
    assert config.DevConfig().kueue.enabled is False


def test_configuration_binds_loopback_runs_only_the_pod_integration(tmp_path: Path) -> None:
    conf = kueue.configuration(CFG, Layout(tmp_path))
    assert conf["webhook"] == {
        "host": "127.0.0.1",
        "port": 19999,
        "certDir": str(tmp_path / "kueue" / "certs"),
    }
    assert conf["health"]["healthProbeBindAddress"].startswith("127.0.0.1:")
    assert conf["integrations"] == {"frameworks": ["pod"]}
    assert conf["manageJobsWithoutQueueName"] is False
    excluded = conf["managedJobsNamespaceSelector"]["matchExpressions"][0]
    assert excluded["operator"] == "NotIn"
    assert set(excluded["values"]) == {"kube-system", "kueue-system"}
    assert conf["internalCertManagement"] == {"enable": False}


def test_webhooks_point_at_the_local_server_and_only_see_queued_pods() -> None:
    mutating, validating = kueue.webhook_configurations(WEBHOOKS, CFG, CA)
    assert mutating["metadata"]["name"] == "kueue-mutating-webhook-configuration"
    # Frameworks that are not enabled have no handler: their webhooks would fail every Job.
    assert [h["name"] for h in mutating["webhooks"]] == ["mpod.kb.io", "mworkload.kb.io"]
    pod, workload = mutating["webhooks"]
    assert pod["clientConfig"] == {
        "url": "https://127.0.0.1:19999/mutate--v1-pod",
        "caBundle": base64.b64encode(CA).decode(),
    }
    assert pod["objectSelector"] == {
        "matchExpressions": [{"key": "kueue.x-k8s.io/queue-name", "operator": "Exists"}]
    }
    assert "kube-system" in pod["namespaceSelector"]["matchExpressions"][0]["values"]
    assert "objectSelector" not in workload
    assert validating["webhooks"][0]["objectSelector"] == pod["objectSelector"]


def test_only_the_crds_kueue_converts_get_its_conversion_webhook() -> None:
    workloads, flavors = kueue.crds(CRDS, CONVERSION, CFG, CA)
    conversion = workloads["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert conversion["webhook"]["clientConfig"]["url"] == "https://127.0.0.1:19999/convert"
    assert "conversion" not in flavors["spec"]


def test_kwok_stops_deleted_kueue_pods_like_a_kubelet(tmp_path: Path) -> None:
    """Kueue lets go of a group's pods only once they are terminal; kwok must get them there."""
    stage = kueue.kwok_stage()
    selector = stage["spec"]["selector"]["matchExpressions"]
    assert {"key": ".metadata.deletionTimestamp", "operator": "Exists"} in selector
    assert {
        "key": ".metadata.finalizers.[]",
        "operator": "In",
        "values": ["kueue.x-k8s.io/managed"],
    } in selector
    assert "phase: Failed" in stage["spec"]["next"]["statusTemplate"]
    layout = Layout(tmp_path)
    argv = pools.kwok_argv(Path("/bin"), CFG, layout, tmp_path / "kubeconfig")
    assert f"--config={layout.kwok_config}" in argv
