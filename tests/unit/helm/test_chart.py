"""The Helm chart, rendered by the real helm: what an installer gets, and what bad values say."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import ROOT
from tests.support.tools import tool
from tests.unit.helm.chart import CHART, RenderError, find, helm, render, render_text

from kubetrain.config import OperatorConfig

pytestmark = pytest.mark.tools


def deployment(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return find(render(values), "Deployment")[0]


def operator_config(values: dict[str, Any] | None = None) -> OperatorConfig:
    (cm,) = find(render(values), "ConfigMap", "kt-kubetrain-config")
    return OperatorConfig.model_validate(yaml.safe_load(cm["data"]["config.yaml"]))


def test_chart_crd_is_the_generated_crd_byte_for_byte() -> None:
    generated = ROOT / "crds" / "trainingjobs.kubetrain.io.yaml"
    shipped = CHART / "crds" / "trainingjobs.kubetrain.io.yaml"
    assert shipped.read_bytes() == generated.read_bytes(), (
        "helm/kubetrain/crds/ differs from crds/: cp crds/*.yaml helm/kubetrain/crds/"
    )
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == sorted(
        p.name for p in (ROOT / "crds").iterdir()
    )


def test_helm_lint_is_clean() -> None:
    out = helm("lint", "--strict", str(CHART), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    out = helm("lint", "--strict", str(CHART), "--set", "watch.clusterWide=true", check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_operator_runs_two_replicas_with_probes_and_the_restricted_context() -> None:
    dep = deployment()
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert dep["spec"]["replicas"] == 2
    assert "--leader-election" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "metrics": 8080,
        "health": 8081,
    }
    assert "--health-port=8081" in container["args"] and "--metrics-port=8080" in container["args"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # Pod Security Standards, level restricted.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["readOnlyRootFilesystem"] is True
    assert pod["serviceAccountName"] == "kt-kubetrain"


def test_watched_namespaces_become_arguments() -> None:
    args = deployment({"watch": {"namespaces": ["ml-a", "ml-b"]}})["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert [a for a in args if a.startswith("--namespace")] == [
        "--namespace=ml-a",
        "--namespace=ml-b",
    ]
    args = deployment({"watch": {"clusterWide": True}})["spec"]["template"]["spec"]["containers"][
        0
    ]["args"]
    assert "--all-namespaces" in args and not [a for a in args if a.startswith("--namespace")]


def test_config_from_values_is_a_valid_operator_config() -> None:
    cfg = operator_config()
    assert [p.name for p in cfg.profiles] == ["cpu-general", "cpu-highmem", "gpu"]
    gpu = cfg.profile_map()["gpu"]
    assert gpu.gpus == 1 and gpu.tolerations[0]["key"] == "nvidia.com/gpu"
    assert cfg.artifact_store.endpoint is None  # AWS unless an endpoint is given
    cfg = operator_config(
        {
            "artifactStore": {"uri": "s3://ml-artifacts/prod", "endpoint": "https://minio:9000"},
            "trainer": {"image": "registry.example/trainer:1.2"},
        }
    )
    assert cfg.artifact_store.uri == "s3://ml-artifacts/prod"
    assert cfg.artifact_store.endpoint == "https://minio:9000"
    assert cfg.trainer_image == "registry.example/trainer:1.2"


def test_a_config_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any] | None) -> str:
        metadata = deployment(values)["spec"]["template"]["metadata"]
        value: str = metadata["annotations"]["checksum/config"]
        return value

    assert checksum(None) == checksum(None)
    assert checksum(None) != checksum({"defaultProfile": "cpu-highmem"})


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"watch": {"namespace": ["ml"]}}, "namespace"),
        ({"profiles": [{"name": "cpu", "resources": {"cpu": "2"}}]}, "/profiles/0/resources"),
        (
            {"profiles": [{"name": "big", "gpus": 2, "resources": {"cpu": 1, "memory": "1Gi"}}]},
            "/profiles/0/name",
        ),
        ({"artifactStore": {"uri": "http://not-s3"}}, "/artifactStore/uri"),
        ({"metrics": {"serviceMonitor": {"enabled": "yes"}}}, "/metrics/serviceMonitor/enabled"),
        ({"defaultProfile": "tpu"}, 'defaultProfile: "tpu" is not one of the profiles'),
    ],
)
def test_bad_values_fail_with_the_values_path(values: dict[str, Any], says: str) -> None:
    with pytest.raises(RenderError) as err:
        render(values)
    assert says in str(err.value)


def test_monitoring_objects() -> None:
    objs = render(
        {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}}
    )
    (svc,) = find(objs, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    (monitor,) = find(objs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (rule,) = find(objs, "PrometheusRule")
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {
        "KubetrainOperatorDown",
        "KubetrainJobsFailing",
        "KubetrainJobsStuckPending",
    }
    assert 'phase="Pending"' in alerts["KubetrainJobsStuckPending"]["expr"]
    assert alerts["KubetrainJobsStuckPending"]["for"] == "30m"
    (dash,) = find(objs, "ConfigMap", "kt-kubetrain-dashboard")
    panels = json.loads(dash["data"]["kubetrain.json"])["panels"]
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in (
        "kubetrain_jobs",
        "kubetrain_phase_transitions_total",
        "kubetrain_api_errors_total",
    ):
        assert metric in exprs
    assert find(render(), "ServiceMonitor") == [] and find(render(), "PrometheusRule") == []


def test_network_policy_is_the_operators_per_job_policy() -> None:
    rendered = render({"watch": {"namespaces": ["ml"]}})
    assert [p["metadata"]["name"] for p in find(rendered, "NetworkPolicy")] == [
        "kt-kubetrain-operator"
    ]
    (config_map,) = find(rendered, "ConfigMap", "kt-kubetrain-config")
    assert yaml.safe_load(config_map["data"]["config.yaml"])["jobNetworkPolicy"] is True
    off = render({"networkPolicy": {"enabled": False}})
    (config_map,) = find(off, "ConfigMap", "kt-kubetrain-config")
    assert yaml.safe_load(config_map["data"]["config.yaml"])["jobNetworkPolicy"] is False


def test_priority_classes() -> None:
    classes = {p["metadata"]["name"]: p["value"] for p in find(render(), "PriorityClass")}
    assert classes == {"kubetrain-low": 1000, "kubetrain-high": 100000}


def test_kube_score_finds_nothing_in_the_rendered_chart(tmp_path: Path) -> None:
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(
        render_text(
            {"metrics": {"serviceMonitor": {"enabled": True}}, "watch": {"namespaces": ["ml"]}}
        )
    )
    out = subprocess.run(
        [
            str(tool("kube-score")),
            "score",
            "--output-format",
            "ci",
            *KUBE_SCORE_FLAGS,
            str(manifest),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line for line in out.stdout.splitlines() if line.startswith(("[CRITICAL]", "[WARNING]"))
    ]
    assert problems == [], out.stdout


# Checks that do not fit an operator, each for a stated reason (docs/gitops.md "Linting"):
KUBE_SCORE_FLAGS = [
    # The image tag is the chart's appVersion, never moved: IfNotPresent spares the registry.
    "--ignore-test=container-image-pull-policy",
    # The operator serves no traffic: ready and alive mean the same (its /healthz).
    "--ignore-test=pod-probes-identical",
]
