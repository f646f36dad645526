"""The children of a TrainingJob, built without a cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from tests.support import ROOT
from tests.support.examples import EXAMPLES, example

from kubetrain.api import TrainingJob, contract
from kubetrain.builders import objects, pods
from kubetrain.builders.naming import JobRef
from kubetrain.config import OperatorConfig

REF = JobRef("iris", "team-a", "uid-1")
CONFIG = OperatorConfig()


def job(name: str, **spec_changes: Any) -> TrainingJob:
    return TrainingJob.model_validate(example(name, **spec_changes))


def restricted(pod: dict[str, Any]) -> None:
    """The Pod Security Standard "restricted" requirements that a builder controls."""
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for c in spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
    assert all(set(v) & {"emptyDir", "configMap"} for v in spec["volumes"])


def test_single_worker_job_is_one_trainer_pod_on_its_profile() -> None:
    [pod] = pods.attempt_pods(REF, job("classification-iris.yaml").spec, 2, CONFIG)
    assert pod["metadata"]["name"] == "iris-a2-trainer"
    assert pod["metadata"]["labels"]["kubetrain.io/job-name"] == "iris"
    assert pod["metadata"]["labels"]["kubetrain.io/attempt"] == "2"
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert pod["spec"]["nodeSelector"] == {"kubetrain.io/pool": "cpu-general"}
    assert pod["spec"]["restartPolicy"] == "Never"
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "kubetrain_trainer"]
    env = {e["name"]: e for e in container["env"]}
    assert env["KUBETRAIN_ATTEMPT"]["value"] == "2"
    assert env["KUBETRAIN_OUTPUT_URI"]["value"] == "s3://kubetrain"
    restricted(pod)


def test_s3_credentials_only_by_secret_reference() -> None:
    [pod] = pods.attempt_pods(REF, job("classification-iris.yaml").spec, 1, CONFIG)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "kubetrain-s3"


def test_gpu_job_requests_gpus_and_tolerates_the_gpu_taint() -> None:
    spec = job("gpu.yaml").spec
    [pod, *_] = pods.attempt_pods(REF, spec, 1, CONFIG)
    container = pod["spec"]["containers"][0]
    gpus = spec.compute.gpus_per_worker or 1
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
    assert pod["spec"]["nodeSelector"] == {"kubetrain.io/pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"][
        "tolerations"
    ]


def test_multi_worker_job_is_a_ray_cluster_with_token_auth() -> None:
    spec = job("multi-worker.yaml").spec
    built = pods.attempt_pods(REF, spec, 1, CONFIG)
    names = [p["metadata"]["name"] for p in built]
    n = spec.compute.workers
    assert names == ["iris-a1-head"] + [f"iris-a1-worker-{i}" for i in range(n - 1)]
    head, worker = built[0], built[1]
    assert "ray start --head" in head["spec"]["containers"][0]["command"][2]
    assert head["spec"]["containers"][0]["command"][4:] == ["python", "-m", "kubetrain_trainer"]
    assert "--address=iris-a1.team-a.svc:6379" in worker["spec"]["containers"][0]["command"][2]
    for p in built:
        env = {e["name"]: e for e in p["spec"]["containers"][0]["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "iris-ray",
            "key": "token",
        }
        restricted(p)
    service = objects.head_service(REF, 1, CONFIG)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"]["kubetrain.io/role"] == "head"


def test_custom_code_runs_in_the_users_image_under_the_trainer() -> None:
    """The trainer wraps the user's command (read from the spec): data, output, metrics."""
    spec = job("custom-code.yaml").spec
    assert spec.model.custom is not None and spec.compute.workers == 1
    [pod] = pods.attempt_pods(REF, spec, 1, CONFIG)
    container = pod["spec"]["containers"][0]
    assert container["image"] == spec.model.custom.image
    assert container["command"] == list(contract.TRAINER_COMMAND)
    assert "args" not in container
    env = {e["name"]: e for e in container["env"]}
    assert env["EXAMPLE_GREETING"]["value"] == "hello from a custom TrainingJob"
    assert env[contract.Env.SPEC]["value"] == contract.SPEC_PATH
    assert env[contract.Env.OUTPUT_URI]["value"] == "s3://kubetrain"


def test_two_worker_custom_code_runs_the_trainer_as_the_ray_driver() -> None:
    spec = job("custom-code.yaml", compute={"workers": 2}).spec
    head, worker = pods.attempt_pods(REF, spec, 1, CONFIG)
    assert head["spec"]["containers"][0]["command"][-3:] == list(contract.TRAINER_COMMAND)
    assert "ray start --address" in worker["spec"]["containers"][0]["command"][-1]


def test_pod_env_names_come_from_the_contract() -> None:
    spec = job("classification-iris.yaml").spec
    [pod] = pods.attempt_pods(REF, spec, 3, CONFIG)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env[contract.Env.ATTEMPT]["value"] == "3"
    assert env[contract.Env.JOB_NAME]["value"] == REF.name
    assert env[contract.Env.NAMESPACE]["value"] == REF.namespace
    secret = env[contract.Env.AWS_SECRET_ACCESS_KEY]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "kubetrain-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    assert pods.artifact_uri(REF, spec, CONFIG, 3) == contract.attempt_prefix(
        "s3://kubetrain", REF.namespace, REF.name, 3
    )


BUILD_IN_A_FRESH_PROCESS = """
import json, sys
from kubetrain.api import TrainingJob
from kubetrain.builders import pods
from kubetrain.builders.naming import JobRef
from kubetrain.config import OperatorConfig
from tests.support.examples import example

job = TrainingJob.model_validate(example(sys.argv[1]))
built = pods.attempt_pods(JobRef("iris", "team-a", "uid-1"), job.spec, 1, OperatorConfig())
print(json.dumps(built, sort_keys=True))
"""


def build_in_a_fresh_process(name: str, hash_seed: str) -> Any:
    """The pods of examples/<name>, built by another interpreter (its own hash seed)."""
    proc = subprocess.run(
        [sys.executable, "-c", BUILD_IN_A_FRESH_PROCESS, name],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        cwd=ROOT,
    )
    return json.loads(proc.stdout)


def test_builders_are_deterministic_across_processes() -> None:
    """Re-reconciling in a restarted operator builds byte-identical children (no spurious diff)."""
    spec = job("multi-worker.yaml").spec
    here = json.loads(json.dumps(pods.attempt_pods(REF, spec, 1, CONFIG), sort_keys=True))
    assert build_in_a_fresh_process("multi-worker.yaml", "1") == here
    assert build_in_a_fresh_process("multi-worker.yaml", "2") == here


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_every_example_builds_restricted_pods(name: str) -> None:
    spec = job(name).spec
    for pod in pods.attempt_pods(REF, spec, 1, CONFIG):
        restricted(pod)


def test_gpus_with_explicit_resources_land_on_the_gpu_pool_with_its_toleration() -> None:
    spec = job(
        "multi-worker.yaml",
        compute={"resources": {"cpu": "2", "memory": "8Gi"}, "gpusPerWorker": 1, "workers": 2},
    ).spec
    for pod in pods.attempt_pods(REF, spec, 1, CONFIG):
        assert pod["spec"]["nodeSelector"] == {"kubetrain.io/pool": "gpu"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "spec"
        ]["tolerations"]
        resources = pod["spec"]["containers"][0]["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == "1"
        assert resources["requests"]["cpu"] == "2"


def test_ray_ports_are_fixed_on_a_real_cluster_and_spread_on_a_shared_network() -> None:
    spec = job("multi-worker.yaml").spec
    head, *_ = pods.attempt_pods(REF, spec, 1, CONFIG)
    assert "--port=6379 " in head["spec"]["containers"][0]["command"][2]
    shared = CONFIG.model_copy(update={"ray_port_spread": 1000})
    ports = {pods.ray_ports(JobRef("j", "ns", f"uid-{i}"), 1, shared).gcs for i in range(20)}
    assert len(ports) > 15 and all(6379 <= p < 7379 for p in ports)
    again = pods.ray_ports(REF, 2, shared)
    head, worker, *_ = pods.attempt_pods(REF, spec, 2, shared)
    assert f"--port={again.gcs} " in head["spec"]["containers"][0]["command"][2]
    assert f":{again.gcs} " in worker["spec"]["containers"][0]["command"][2]
    service = objects.head_service(REF, 2, shared)
    assert {p["port"] for p in service["spec"]["ports"]} == {again.gcs, again.dashboard}


def test_a_jobs_network_policy_admits_only_its_own_pods() -> None:
    policy = objects.job_network_policy(REF)
    own = {"matchLabels": {"kubetrain.io/job-name": REF.name}}
    assert policy["spec"]["podSelector"] == own
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": own}]}]
    assert policy["metadata"]["ownerReferences"][0]["uid"] == REF.uid
    [pod] = pods.attempt_pods(REF, job("classification-iris.yaml").spec, 1, CONFIG)
    assert pod["metadata"]["labels"]["kubetrain.io/job-name"] == REF.name
