"""Run the real operator (`kubetrain operator`) as a process against the dev cluster.

Each test gets its own operator watching only its own namespace, so tests can kill, restart
and double it without disturbing each other.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from tests.support.cluster import DevCluster

# The dev cluster's pools as compute profiles, plus one that asks for more GPUs than any
# node has (to see Unschedulable) and the local node where pods really run.
PROFILES: list[dict[str, Any]] = [
    {
        "name": "cpu-general",
        "nodeSelector": {"kubetrain.io/pool": "cpu-general"},
        "resources": {"cpu": "2", "memory": "4Gi"},
    },
    {
        "name": "gpu",
        "nodeSelector": {"kubetrain.io/pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "resources": {"cpu": "4", "memory": "16Gi"},
        "gpus": 2,
    },
    {
        "name": "gpu-xl",
        "nodeSelector": {"kubetrain.io/pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "resources": {"cpu": "4", "memory": "16Gi"},
        "gpus": 16,
    },
    {
        "name": "local",
        "nodeSelector": {"kubetrain.io/pool": "local"},
        "tolerations": [{"key": "kubetrain.io/local-node", "operator": "Exists"}],
        "resources": {"cpu": "1", "memory": "2Gi"},
    },
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Operator:
    """One `kubetrain operator` process."""

    def __init__(
        self,
        cluster: DevCluster,
        namespace: str,
        config: Path,
        log: Path,
        lease: str | None,
        command: list[str] | None = None,
    ) -> None:
        self.cluster, self.namespace, self.config, self.log = cluster, namespace, config, log
        self.lease = lease
        self.command = command or [str(Path(sys.executable).parent / "kubetrain")]
        """What runs `operator ...`: the CLI, or a wrapper of it (benchmarks/operator_memory)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0

    def start(self) -> Operator:
        self.metrics_port = free_port()
        argv = [
            *self.command,
            "operator",
            "--kubeconfig",
            str(self.cluster.kubeconfig),
            "-n",
            self.namespace,
            "--config",
            str(self.config),
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(free_port()),
        ]
        if self.lease:
            argv += ["--lease-namespace", self.namespace, "--lease-name", self.lease]
        else:
            argv.append("--no-leader-election")
        # No AWS_* here: the operator reads the store with the job's credentials Secret.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def prepare_namespace(cluster: DevCluster, namespace: str) -> None:
    """What a job's namespace holds: the S3 credentials Secret, and the PodSecurity level
    "restricted", so every pod the operator creates passes the real admission."""
    secret = json.loads(
        cluster.kubectl(
            "get", "secret", cluster.s3.secret_name, "-n", "default", "-o", "json"
        ).stdout
    )
    secret["metadata"] = {"name": cluster.s3.secret_name, "namespace": namespace}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(secret))
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )


class Harness:
    """The dev cluster, a namespace with the S3 Secret, and operators for it."""

    def __init__(self, cluster: DevCluster, namespace: str, tmp: Path) -> None:
        self.cluster, self.namespace, self.tmp = cluster, namespace, tmp
        self.config = tmp / "operator.yaml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "trainerImage": "kubetrain/trainer:dev",
                    "profiles": PROFILES,
                    "defaultProfile": "local",
                    "gangTimeoutSeconds": 20,
                    "progressIntervalSeconds": 2,
                    "terminationGraceSeconds": 20,
                    "rayPortSpread": 1000,
                    "jobNetworkPolicy": True,
                    "artifactStore": {
                        "uri": f"s3://{cluster.s3.bucket}",
                        "endpoint": cluster.s3.endpoint,
                        "credentialsSecret": cluster.s3.secret_name,
                    },
                }
            )
        )
        self.operators: list[Operator] = []

    def operator(self, lease: str | None = None) -> Operator:
        op = Operator(self.cluster, self.namespace, self.config, self.tmp / "operator.log", lease)
        self.operators.append(op)
        return op.start()

    def stop_all(self) -> None:
        for op in self.operators:
            op.stop()

    # --- kubectl helpers ---------------------------------------------------------------

    def apply(self, obj: dict[str, Any]) -> None:
        self.cluster.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(obj))

    def get(self, kind: str, name: str | None = None, *selector: str) -> Any:
        args = ["get", kind, *([name] if name else []), "-n", self.namespace, *selector]
        result = self.cluster.kubectl(*args, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def job(self, name: str) -> dict[str, Any]:
        return self.get("trainingjob", name) or {}

    def status(self, name: str) -> dict[str, Any]:
        return self.job(name).get("status") or {}

    def pods(self, job: str) -> list[dict[str, Any]]:
        found = self.get("pods", None, "-l", f"kubetrain.io/job-name={job}")
        return found["items"] if found else []

    def patch_spec(self, name: str, patch: dict[str, Any]) -> None:
        self.cluster.kubectl(
            "patch",
            "trainingjob",
            name,
            "-n",
            self.namespace,
            "--type=merge",
            "-p",
            json.dumps({"spec": patch}),
        )

    def events(self, name: str) -> list[str]:
        found = self.get("events", None, "--field-selector", f"involvedObject.name={name}")
        return [e["reason"] for e in (found or {}).get("items", [])]


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Poll `check` until it returns something true, and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
