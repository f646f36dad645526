"""The Helm chart in the real dev cluster: server-side dry runs of a matrix of values, then a
real install whose operator runs as a pod on the `local` node under the chart's own
ServiceAccount and RBAC (its projected token, not the admin kubeconfig), trains a job to
Succeeded, survives a GitOps-style re-apply and an upgrade, and uninstalls cleanly.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import ROOT
from tests.support.cluster import DevCluster
from tests.support.operator_harness import free_port, wait_for
from tests.support.tools import k8s_dir, tool

CHART = ROOT / "helm" / "kubetrain"
RELEASE = "kt"
SA = "kt-kubetrain"
EXAMPLE = ROOT / "examples" / "classification-iris.yaml"


def helm(cluster: DevCluster, *args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [str(k8s_dir() / "helm"), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, f"helm {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out


def get(cluster: DevCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def make_namespace(cluster: DevCluster, name: str) -> None:
    """A namespace enforcing Pod Security `restricted`, with the S3 credentials Secret."""
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    secret = get(cluster, "secret", cluster.s3.secret_name, "-n", "default")
    secret["metadata"] = {"name": cluster.s3.secret_name, "namespace": name}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(secret))
    wait_for(
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
        30,
        f"the default ServiceAccount of {name}",
    )


def deploy(cluster: DevCluster, verb: str, ns: str, values: Path) -> Any:
    """`helm install` or `helm upgrade` of the chart with the dev values and `values` on top."""
    dev = str(ROOT / "helm" / "values-dev.yaml")
    return helm(
        cluster, verb, RELEASE, str(CHART), "-n", ns, "-f", dev, "-f", str(values),
        "--wait", "--timeout=5m",
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(dev_cluster: DevCluster) -> DevCluster:
    dev_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    dev_cluster.kubectl("apply", "-f", str(Path(__file__).with_name("monitoring-crds.yaml")))
    dev_cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return dev_cluster


MATRIX: dict[str, dict[str, Any]] = {
    "defaults": {},
    "cluster-wide": {"watch": {"clusterWide": True}},
    "everything-on": {
        "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
        "updateStrategy": {"type": "Recreate"},
        "priorityClassName": "system-cluster-critical",
    },
    "everything-off": {
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "default"},
        "leaderElection": {"enabled": False},
        "replicaCount": 1,
        "metrics": {"service": {"enabled": False}},
        "grafanaDashboard": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "priorityClasses": [],
    },
    "dev": {"__file__": str(ROOT / "helm" / "values-dev.yaml")},
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_rendered_chart_passes_a_server_side_dry_run(
    cluster: DevCluster, case: str, tmp_path: Path
) -> None:
    ns = f"kt-dry-{uuid.uuid4().hex[:6]}"
    make_namespace(cluster, ns)
    try:
        values = dict(MATRIX[case])
        files = [values.pop("__file__")] if "__file__" in values else []
        extra = tmp_path / "values.yaml"
        extra.write_text(yaml.safe_dump({"watch": {"namespaces": [ns]}} | values))
        args = [a for f in [*files, str(extra)] for a in ("--values", f)]
        manifest = helm(cluster, "template", RELEASE, str(CHART), "-n", ns, *args).stdout
        out = cluster.kubectl(
            "apply", "--dry-run=server", "-n", ns, "-f", "-", input=manifest, check=False
        )
        assert out.returncode == 0, out.stderr
        kinds = {line.split("/")[0] for line in out.stdout.splitlines()}
        assert "deployment.apps" in kinds
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


# --- a real install ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    ns: str
    install_output: str


@pytest.fixture(scope="module")
def release(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """The chart installed with the dev values into a fresh namespace it also watches."""
    ns = f"kt-helm-{uuid.uuid4().hex[:6]}"
    make_namespace(cluster, ns)
    values = tmp_path_factory.mktemp("helm") / "values.yaml"
    values.write_text(yaml.safe_dump(release_values(cluster, ns)))
    try:
        installed = deploy(cluster, "install", ns, values)
        yield Release(ns, installed.stdout)
    finally:
        subprocess.run(
            [
                str(k8s_dir() / "helm"),
                "--kubeconfig",
                str(cluster.kubeconfig),
                "uninstall",
                RELEASE,
                "-n",
                ns,
            ],
            capture_output=True,
            check=False,
        )
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def release_values(cluster: DevCluster, ns: str) -> dict[str, Any]:
    port = free_port()
    return {
        "watch": {"namespaces": [ns]},
        "artifactStore": {"endpoint": cluster.s3.endpoint},
        # The local node's pods share this machine's ports.
        "ports": {"metrics": port, "health": free_port()},
        "metrics": {"service": {"port": port}},
        # Cluster-scoped names of this release only.
        "priorityClasses": [{"name": f"{ns}-low", "value": 10}],
    }


def operator_pod(cluster: DevCluster, ns: str) -> dict[str, Any]:
    pods: list[dict[str, Any]] = get(
        cluster, "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator"
    )["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert len(running) == 1, [p["metadata"]["name"] for p in pods]
    return running[0]


def phase(cluster: DevCluster, ns: str, job: str) -> str | None:
    out = cluster.kubectl("get", "tj", job, "-n", ns, "-o", "jsonpath={.status.phase}", check=False)
    return out.stdout or None


def test_operator_runs_under_the_charts_service_account_and_trains_a_job(
    cluster: DevCluster, release: Release
) -> None:
    ns = release.ns
    pod = operator_pod(cluster, ns)
    assert pod["spec"]["nodeName"] == "local"
    assert pod["spec"]["serviceAccountName"] == SA
    token = [v for v in pod["spec"]["volumes"] if "projected" in v]
    assert token, "the ServiceAccount token is projected into the pod"
    # What that ServiceAccount may do: its namespace's jobs, nothing else.
    who = f"--as=system:serviceaccount:{ns}:{SA}"

    def can(*args: str) -> bool:
        out = cluster.kubectl("auth", "can-i", who, *args, check=False)
        return out.stdout.strip() == "yes"

    assert can("create", "pods", "-n", ns)
    assert can("patch", "trainingjobs.kubetrain.io", "--subresource=status", "-n", ns)
    assert not can("create", "pods", "-n", "default")
    # It reads the store's credentials Secret by name (as the pods do), but lists no Secrets.
    assert can("get", "secrets", "-n", ns) and not can("list", "secrets", "-n", ns)
    assert not can("get", "secrets", "-n", "default")
    assert not can("list", "nodes")

    cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLE))
    wait_for(
        lambda: phase(cluster, ns, "iris-forest") in ("Succeeded", "Failed"),
        900,
        "iris-forest to finish",
    )
    status = get(cluster, "tj", "iris-forest", "-n", ns)["status"]
    assert status["phase"] == "Succeeded", status
    assert status["successCriteriaMet"] is True
    # The operator's requests were its own: the Lease is held by its pod, and it logged no
    # refused call.
    lease = get(cluster, "lease", "kubetrain-operator", "-n", ns)
    assert lease["spec"]["holderIdentity"]
    log = cluster.kubectl("logs", "-n", ns, pod["metadata"]["name"]).stdout
    refused = [line for line in log.splitlines() if "403" in line or "Forbidden" in line]
    assert refused == [], refused
    assert lease["spec"]["holderIdentity"].startswith(pod["metadata"]["name"])


def test_install_notes_tell_how_to_submit_and_watch_a_first_job(release: Release) -> None:
    notes = release.install_output.split("NOTES:", 1)[1]
    ns = release.ns
    assert f"watches TrainingJobs in: {ns}." in notes
    assert f"kubectl -n {ns} apply -f -" in notes
    assert f"kubectl -n {ns} get tj -w" in notes


def test_a_gitops_resync_of_a_finished_job_does_not_retrain_it(
    cluster: DevCluster, release: Release
) -> None:
    ns = release.ns
    before = get(cluster, "tj", "iris-forest", "-n", ns)
    assert before["status"]["phase"] == "Succeeded"
    # Re-applied as a sync does; a changed model is refused (a started job's spec is frozen);
    # a changed mutable field is accepted, and starts nothing either.
    cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLE))
    edit = '{"spec": {"model": {"builtin": {"hyperparameters": {"n_estimators": 50}}}}}'
    refused = cluster.kubectl(
        "patch", "tj", "iris-forest", "-n", ns, "--type=merge", "-p", edit, check=False
    )
    assert refused.returncode and "the spec of a started job is frozen" in refused.stderr
    cluster.kubectl(
        "patch",
        "tj",
        "iris-forest",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec": {"runPolicy": {"activeDeadlineSeconds": 7200}}}',
    )
    generation = get(cluster, "tj", "iris-forest", "-n", ns)["metadata"]["generation"]
    wait_for(
        lambda: (
            get(cluster, "tj", "iris-forest", "-n", ns)["status"]["observedGeneration"]
            == generation
        ),
        60,
        "the operator to observe the edit",
    )
    after = get(cluster, "tj", "iris-forest", "-n", ns)["status"]
    assert (after["phase"], after["attempt"]) == ("Succeeded", 1)
    pods = get(cluster, "pods", "-n", ns, "-l", "kubetrain.io/job-name=iris-forest")["items"]
    assert {p["metadata"]["labels"]["kubetrain.io/attempt"] for p in pods} == {"1"}


def kstatus(obj: dict[str, Any]) -> str:
    out = subprocess.run(
        [str(tool("kstatus"))], input=json.dumps(obj), capture_output=True, text=True, check=True
    )
    return str(json.loads(out.stdout)["status"])


def test_kstatus_reads_real_jobs(cluster: DevCluster, release: Release) -> None:
    """Current once Succeeded; InProgress while Pending/Running; Failed once Failed."""
    ns = release.ns
    assert kstatus(get(cluster, "tj", "iris-forest", "-n", ns)) == "Current"
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["metadata"]["name"] = "iris-stump"
    manifest["spec"]["model"]["builtin"]["hyperparameters"] = {"n_estimators": 1, "max_depth": 1}
    manifest["spec"]["problem"]["objective"]["threshold"] = 0.99  # a stump cannot reach it
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    seen: dict[str, str] = {}

    def finished() -> bool:
        obj = get(cluster, "tj", "iris-stump", "-n", ns)  # one snapshot: its phase and kstatus
        phase = obj.get("status", {}).get("phase")
        if phase:
            seen[phase] = kstatus(obj)
        return phase in ("Succeeded", "Failed")

    wait_for(finished, 900, "iris-stump to finish")
    assert seen.get("Failed") == "Failed", seen
    assert seen.get("Pending", "InProgress") == "InProgress"
    assert seen.get("Running", "InProgress") == "InProgress"
    assert {"Pending", "Running"} & set(seen), seen


def test_upgrade_with_a_changed_profile_takes_effect(
    cluster: DevCluster, release: Release, tmp_path: Path
) -> None:
    ns = release.ns
    old_pod = operator_pod(cluster, ns)["metadata"]["name"]
    dev_values = yaml.safe_load((ROOT / "helm" / "values-dev.yaml").read_text())
    profiles = dev_values["profiles"]
    profiles[0]["resources"] = {"cpu": "1", "memory": "1536Mi"}  # the `local` profile
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({**release_values(cluster, ns), "profiles": profiles}))
    deploy(cluster, "upgrade", ns, values)
    wait_for(
        lambda: operator_pod(cluster, ns)["metadata"]["name"] != old_pod, 120, "a new operator pod"
    )
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["metadata"]["name"] = "iris-after-upgrade"
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))

    def trainer_memory() -> str | None:
        pods = get(cluster, "pods", "-n", ns, "-l", "kubetrain.io/job-name=iris-after-upgrade")
        for p in pods["items"]:
            return str(p["spec"]["containers"][0]["resources"]["requests"]["memory"])
        return None

    assert wait_for(trainer_memory, 180, "the new job's pod") == "1536Mi"
    cluster.kubectl("delete", "tj", "iris-after-upgrade", "-n", ns, "--wait=false")


def test_the_operator_acts_with_its_service_accounts_rights_only(
    cluster: DevCluster, release: Release
) -> None:
    """Take its RoleBinding away: its next call is refused, in the ServiceAccount's name."""
    ns = release.ns
    cluster.kubectl("delete", "rolebinding", SA, "-n", ns)
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["metadata"]["name"] = "iris-unbound"
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    pod = operator_pod(cluster, ns)["metadata"]["name"]
    user = f"system:serviceaccount:{ns}:{SA}"

    def refused() -> bool:
        log = cluster.kubectl("logs", "-n", ns, pod).stdout
        return any(user in line and "cannot get resource" in line for line in log.splitlines())

    wait_for(refused, 120, "the operator's call to be refused for its ServiceAccount")


def test_uninstall_leaves_only_the_crd_and_the_jobs(cluster: DevCluster, release: Release) -> None:
    ns = release.ns
    helm(cluster, "uninstall", RELEASE, "-n", ns, "--wait", "--timeout=3m")
    selector = f"app.kubernetes.io/instance={RELEASE}"
    kinds = (
        "deployments,replicasets,configmaps,serviceaccounts,services,roles,rolebindings,"
        "leases,networkpolicies"
    )
    left = get(cluster, kinds, "-n", ns, "-l", selector)["items"]
    assert left == []
    assert get(cluster, "priorityclasses", "-l", selector)["items"] == []
    assert cluster.kubectl("get", "lease", "kubetrain-operator", "-n", ns, check=False).returncode
    wait_for(
        lambda: (
            not get(cluster, "pods", "-n", ns, "-l", "app.kubernetes.io/component=operator")[
                "items"
            ]
        ),
        120,
        "the operator pod to go",
    )
    assert get(cluster, "crd", "trainingjobs.kubetrain.io")["metadata"]["name"]
    assert phase(cluster, ns, "iris-forest") == "Succeeded"
