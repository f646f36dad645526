"""The dev cluster behaves like a real one: scheduling onto pools, pods that really run on the
`local` node, RBAC, and an S3 store that enforces credentials."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.support.cluster import DevCluster
from tests.support.operator_harness import wait_for

from kubetrain.dev import config as dev_config


def get_json(cluster: DevCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def pod_phase(cluster: DevCluster, ns: str, name: str) -> str:
    pod = get_json(cluster, "pod", name, "-n", ns)
    return str(pod.get("status", {}).get("phase", ""))


def local_pod(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A pod pinned to the local node running a Python script."""
    container = {
        "name": "main",
        "image": "python:3.11",  # not pulled: the local node runs this machine's Python
        "command": ["python", "-c", textwrap.dedent(script)],
        **extra.pop("container", {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": extra.pop("labels", {"app": name})},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubetrain.io/pool": "local"},
            "tolerations": [{"key": "kubetrain.io/local-node", "operator": "Exists"}],
            "terminationGracePeriodSeconds": 10,
            "containers": [container],
            **extra,
        },
    }


def apply(cluster: DevCluster, ns: str, *objects: dict[str, Any]) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=body)


def test_deployment_pods_run_on_kwok_nodes(dev_cluster: DevCluster, namespace: str) -> None:
    dev_cluster.kubectl(
        "create", "deployment", "web", "--image=nginx", "--replicas=3", "-n", namespace
    )
    dev_cluster.kubectl(
        "rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s", timeout=70
    )
    pods = get_json(dev_cluster, "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 3
    kwok_nodes = {
        n["metadata"]["name"] for n in get_json(dev_cluster, "nodes", "-l", "type=kwok")["items"]
    }
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"] in kwok_nodes


def test_gpu_pod_lands_on_gpu_pool_and_impossible_request_is_unschedulable(
    dev_cluster: DevCluster, namespace: str
) -> None:
    def gpu_pod(name: str, gpus: int) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                "containers": [
                    {
                        "name": "train",
                        "image": "trainer",
                        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                    }
                ],
            },
        }

    apply(dev_cluster, namespace, gpu_pod("fits", 2), gpu_pod("too-big", 64))
    wait_for(lambda: pod_phase(dev_cluster, namespace, "fits") == "Running", what="gpu pod Running")
    pod = get_json(dev_cluster, "pod", "fits", "-n", namespace)
    node = get_json(dev_cluster, "node", pod["spec"]["nodeName"])
    assert node["metadata"]["labels"]["kubetrain.io/pool"] == "gpu"

    def unschedulable() -> dict[str, Any] | None:
        conditions = get_json(dev_cluster, "pod", "too-big", "-n", namespace)["status"].get(
            "conditions", []
        )
        return next(
            (c for c in conditions if c["type"] == "PodScheduled" and c["status"] == "False"),
            None,
        )

    condition = wait_for(unschedulable, what="PodScheduled=False on too-big")
    assert condition["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in condition["message"]
    assert pod_phase(dev_cluster, namespace, "too-big") == "Pending"


def test_local_pod_runs_reads_secret_and_reaches_a_service(
    dev_cluster: DevCluster, namespace: str
) -> None:
    token = uuid.uuid4().hex
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"password": token},
    }
    server = local_pod(
        "echo",
        """
        import http.server, os
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.end_headers()
                self.wfile.write(b"hello from " + os.environ["POD_NAME"].encode())
        http.server.HTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
        """,
        container={
            "env": [
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
            "ports": [{"containerPort": 8080}],
        },
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo"},
        "spec": {"selector": {"app": "echo"}, "ports": [{"port": 8080}]},
    }
    client = local_pod(
        "client",
        f"""
        import os, time, urllib.request
        assert os.environ["PASSWORD"] == "{token}", "secret not in env"
        for attempt in range(60):
            try:
                body = urllib.request.urlopen("http://echo.{namespace}.svc:8080/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        print("got:", body.decode())
        assert body == b"hello from echo"
        """,
        container={
            "env": [
                {
                    "name": "PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
                }
            ]
        },
    )
    apply(dev_cluster, namespace, secret, service, server)
    wait_for(lambda: pod_phase(dev_cluster, namespace, "echo") == "Running", what="echo Running")
    apply(dev_cluster, namespace, client)
    wait_for(
        lambda: pod_phase(dev_cluster, namespace, "client") in ("Succeeded", "Failed"),
        timeout=90,
        what="client to finish",
    )
    logs = dev_cluster.kubetrain("dev", "logs", "client", "-n", namespace).stdout
    pod = get_json(dev_cluster, "pod", "client", "-n", namespace)
    assert pod["status"]["phase"] == "Succeeded", logs
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    assert "got: hello from echo" in logs
    block = dev_config.load(None).local_node.pod_ip_block  # this cluster's 127.0.<block>.x
    assert pod["status"]["podIP"].startswith(f"127.0.{block}.")


def test_volume_over_the_nodes_own_files_still_mounts_everything(
    dev_cluster: DevCluster, namespace: str
) -> None:
    # An emptyDir over the directory that holds the node's state (as one over /tmp does when
    # the dev cluster lives in /tmp) must not hide the sources of the pod's other mounts.
    over = str(dev_cluster.kubeconfig.parent)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"mode": "fast"},
    }
    pod = local_pod(
        "covered",
        f"""
        import os, socket
        print(open("/etc/settings/mode").read(), os.listdir("{over}"), socket.gethostname())
        """,
        container={
            "volumeMounts": [
                {"name": "scratch", "mountPath": over},
                {"name": "settings", "mountPath": "/etc/settings"},
            ]
        },
        volumes=[
            {"name": "scratch", "emptyDir": {}},
            {"name": "settings", "configMap": {"name": "settings"}},
        ],
    )
    apply(dev_cluster, namespace, config_map, pod)
    wait_for(
        lambda: pod_phase(dev_cluster, namespace, "covered") in ("Succeeded", "Failed"),
        what="the pod to finish",
    )
    logs = dev_cluster.kubectl("logs", "covered", "-n", namespace).stdout
    assert pod_phase(dev_cluster, namespace, "covered") == "Succeeded", logs
    assert logs == "fast [] covered\n"


def test_failing_local_pod_reports_its_exit_code(dev_cluster: DevCluster, namespace: str) -> None:
    apply(dev_cluster, namespace, local_pod("fails", "import sys; print('bye'); sys.exit(3)"))
    wait_for(lambda: pod_phase(dev_cluster, namespace, "fails") == "Failed", what="Failed phase")
    status = get_json(dev_cluster, "pod", "fails", "-n", namespace)["status"]
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    # The API server proxies `kubectl logs` to the local node, as to any kubelet.
    assert dev_cluster.kubectl("logs", "fails", "-n", namespace).stdout == "bye\n"


def test_deleting_a_running_local_pod_sends_sigterm_first(
    dev_cluster: DevCluster, namespace: str, tmp_path: Path
) -> None:
    pod = local_pod(
        "sleeper",
        """
        import signal, sys, time
        def on_term(signum, frame):
            open("/out/signal", "w").write("SIGTERM")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        open("/out/started", "w").write("yes")
        time.sleep(300)
        """,
        container={"volumeMounts": [{"name": "out", "mountPath": "/out"}]},
        volumes=[{"name": "out", "hostPath": {"path": str(tmp_path)}}],
    )
    apply(dev_cluster, namespace, pod)
    wait_for(lambda: (tmp_path / "started").exists(), what="the pod to start")
    dev_cluster.kubectl("delete", "pod", "sleeper", "-n", namespace, "--timeout=30s", timeout=40)
    assert (tmp_path / "signal").read_text() == "SIGTERM"


def test_service_account_token_is_subject_to_rbac(dev_cluster: DevCluster, namespace: str) -> None:
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "read-configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "read-configmaps",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    ]
    pod = local_pod(
        "rbac",
        f"""
        from kubernetes import client, config
        from kubernetes.client.rest import ApiException
        config.load_incluster_config()
        core = client.CoreV1Api()
        names = [c.metadata.name for c in core.list_namespaced_config_map("{namespace}").items]
        print("configmaps allowed:", names)
        try:
            core.list_namespaced_secret("{namespace}")
            print("secrets allowed")
        except ApiException as exc:
            print("secrets refused:", exc.status)
        """,
        serviceAccountName="reader",
    )
    apply(dev_cluster, namespace, *objects)
    apply(dev_cluster, namespace, pod)
    wait_for(
        lambda: pod_phase(dev_cluster, namespace, "rbac") in ("Succeeded", "Failed"),
        timeout=90,
        what="rbac pod to finish",
    )
    logs = dev_cluster.kubetrain("dev", "logs", "rbac", "-n", namespace).stdout
    assert pod_phase(dev_cluster, namespace, "rbac") == "Succeeded", logs
    assert "configmaps allowed: ['kube-root-ca.crt']" in logs
    assert "secrets refused: 403" in logs


def test_s3_round_trip_and_wrong_credentials_refused(dev_cluster: DevCluster) -> None:
    s3 = dev_cluster.s3.client()
    key = f"tests/{uuid.uuid4().hex}.bin"
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
    s3.put_object(Bucket=dev_cluster.s3.bucket, Key=key, Body=payload)
    assert s3.get_object(Bucket=dev_cluster.s3.bucket, Key=key)["Body"].read() == payload

    from botocore.exceptions import ClientError

    wrong = dev_cluster.s3.client(secret_key="not-the-secret")
    with pytest.raises(ClientError) as refused:
        wrong.get_object(Bucket=dev_cluster.s3.bucket, Key=key)
    assert refused.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")

    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{dev_cluster.s3.endpoint}/{dev_cluster.s3.bucket}/{key}")
    assert anonymous.value.code == 403


def test_s3_credentials_secret_reaches_pods(dev_cluster: DevCluster) -> None:
    secret = get_json(dev_cluster, "secret", dev_cluster.s3.secret_name, "-n", "default")
    assert set(secret["data"]) >= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"}


def test_status_json_reports_the_running_cluster(dev_cluster: DevCluster) -> None:
    report = json.loads(dev_cluster.kubetrain("dev", "status", "--json").stdout)
    assert report["running"] is True
    assert report["kubeconfig"] == str(dev_cluster.kubeconfig)
    assert report["s3"]["endpoint"] == dev_cluster.s3.endpoint
    assert report["s3"]["credentialsSecret"]["name"] == dev_cluster.s3.secret_name
    assert {p["name"] for p in report["nodePools"]} >= {
        "cpu-general",
        "cpu-highmem",
        "gpu",
        "local",
    }
