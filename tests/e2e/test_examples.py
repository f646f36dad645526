"""Every example in examples/ trained in the dev cluster, its "Expect:" line asserted.

The CPU examples all run at once on the `local` node under one operator (the examples'
profiles are mapped to `local`; workers and resources stay as written); the GPU example goes to
the kwok `gpu` pool, whose nodes do not run containers, so there its placement is checked.
Each example's comment says what a user sees; this module reads that line and asserts it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.cluster import DevCluster
from tests.support.examples import EXAMPLES, example, expectation
from tests.support.operator_harness import Harness, prepare_namespace, wait_for

from kubetrain.api.contract import Env, Files, job_prefix

GPU_EXAMPLES = {"gpu.yaml"}
CPU_EXAMPLES = [p.name for p in EXAMPLES if p.name not in GPU_EXAMPLES]
TIMEOUT_SECONDS = 1500


def _manifest(name: str) -> dict[str, Any]:
    manifest = example(name)
    compute = manifest["spec"].get("compute") or {}
    if name not in GPU_EXAMPLES and "profile" in compute:
        compute["profile"] = "local"  # the dev cluster's node whose pods really run
    return manifest


@pytest.fixture(scope="module")
def trained(
    dev_cluster: DevCluster, crd_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """One namespace, one operator, every example applied; waits until the CPU ones end."""
    namespace = f"examples-{int(time.time())}"
    dev_cluster.kubectl("create", "namespace", namespace)
    prepare_namespace(dev_cluster, namespace)
    harness = Harness(dev_cluster, namespace, tmp_path_factory.mktemp("examples"))
    harness.operator()
    for path in EXAMPLES:
        harness.apply(_manifest(path.name))
    names = {name: _manifest(name)["metadata"]["name"] for name in CPU_EXAMPLES}
    try:
        wait_for(
            lambda: all(
                harness.status(job).get("phase") in ("Succeeded", "Failed")
                for job in names.values()
            ),
            TIMEOUT_SECONDS,
            "every CPU example to finish",
        )
        yield harness
    finally:
        harness.stop_all()
        dev_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _files(h: Harness, uri: str) -> set[str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    listing = h.cluster.s3.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :] for o in listing.get("Contents", [])}


def _explain(h: Harness, job: str) -> str:
    status = h.status(job)
    logs = "\n".join(
        f"--- {p['metadata']['name']} ({p['status'].get('phase')})\n"
        + h.cluster.kubectl(
            "logs", p["metadata"]["name"], "-n", h.namespace, "--tail=20", check=False
        ).stdout
        for p in h.pods(job)
    )
    return f"{status.get('message')}\n{json.dumps(status.get('conditions'), indent=1)}\n{logs}"


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == kind)


@pytest.mark.parametrize("example", CPU_EXAMPLES)
def test_example_trains_in_the_cluster_as_its_expect_line_says(
    trained: Harness, example: str
) -> None:
    expect = expectation(example)
    job = _manifest(example)["metadata"]["name"]
    status = trained.status(job)
    assert status.get("phase") == expect.phase, _explain(trained, job)
    verdict = _condition(status, "SuccessCriteriaMet")
    assert verdict["status"].lower() == expect.verdict, verdict
    if expect.verdict in ("true", "false"):
        assert status["successCriteriaMet"] is (expect.verdict == "true")
    else:
        assert "successCriteriaMet" not in status
    if expect.metric is not None and expect.value is not None:
        assert status["bestMetric"]["name"] == expect.metric
        assert f"threshold {expect.comparison} {expect.value:g}" in verdict["message"]
    if expect.progress is not None:
        assert status["progress"]["summary"] == expect.progress
    files = _files(trained, status["artifactUri"])
    assert {"metrics.json", "metadata.json", "spec.json", "report.html"} <= files, files
    for artifact in expect.artifacts:
        assert artifact in files, files
    row = trained.cluster.kubectl("get", "tj", job, "-n", trained.namespace).stdout.splitlines()
    assert row[0].split()[:5] == ["NAME", "PHASE", "PROGRESS", "BEST", "ATTEMPT"]
    assert expect.phase in row[1]
    if expect.progress is not None:
        assert expect.progress.split()[0] in row[1]


def test_the_gpu_example_is_placed_on_the_gpu_pool(trained: Harness) -> None:
    expect = expectation("gpu.yaml")
    job = _manifest("gpu.yaml")["metadata"]["name"]
    wait_for(lambda: trained.status(job).get("phase") == expect.phase, 60, "the GPU job to run")
    [pod] = trained.pods(job)
    node = trained.cluster.kubectl("get", "node", pod["spec"]["nodeName"], "-o", "json").stdout
    assert json.loads(node)["metadata"]["labels"]["kubetrain.io/pool"] == expect.pool
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    assert _condition(trained.status(job), "Scheduled")["status"] == "True"


def test_no_secret_leaks_into_logs_status_events_pods_or_artifacts(trained: Harness) -> None:
    """The S3 secret key and each job's Ray token stay in their Secrets: not in the operator's
    log, the jobs' status, Events, pod specs (secretKeyRef only), pod logs or artifacts."""
    h = trained
    tokens = [
        base64.b64decode(s["data"]["token"]).decode()
        for s in h.get("secrets")["items"]
        if s["metadata"]["name"].endswith("-ray")
    ]
    secrets = [h.cluster.s3.secret_key, h.cluster.s3.access_key, *tokens]
    assert tokens, "the multi-worker examples have Ray tokens"
    for pod in h.get("pods")["items"]:
        for container in pod["spec"]["containers"]:
            for var in container.get("env", []):
                if var["name"] in (
                    Env.AWS_ACCESS_KEY_ID,
                    Env.AWS_SECRET_ACCESS_KEY,
                    "RAY_AUTH_TOKEN",
                ):
                    assert "value" not in var and "secretKeyRef" in var["valueFrom"], var
    places = {
        "operator log": (h.tmp / "operator.log").read_text(),
        "jobs": json.dumps(h.get("trainingjobs")),
        "events": json.dumps(h.get("events")),
        "pods": json.dumps(h.get("pods")),
    }
    for pod in h.get("pods")["items"]:
        name = pod["metadata"]["name"]
        places[f"log {name}"] = h.cluster.kubectl(
            "logs", name, "-n", h.namespace, check=False
        ).stdout
    s3 = h.cluster.s3.client()
    prefix = f"{h.namespace}/"
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=h.cluster.s3.bucket, Prefix=prefix
    ):
        for obj in page.get("Contents", []):
            if obj["Size"] < 100_000_000:  # every artifact; none is near this
                body = s3.get_object(Bucket=h.cluster.s3.bucket, Key=obj["Key"])["Body"].read()
                places[obj["Key"]] = body.decode("latin-1")
    assert len(places) > 20
    leaks = [where for where, text in places.items() for s in secrets if s in text]
    assert leaks == []


def test_tuning_wine_keeps_every_trial_in_the_jobs_store(trained: Harness) -> None:
    """Ray Tune's trials ran on both pods; their storage is the job's S3 store, not a pod's
    disk, so every trial is recorded there beside Ray Tune's own run."""
    h, name = trained, example("tuning-wine.yaml")["metadata"]["name"]
    status = h.status(name)
    bucket = h.cluster.s3.bucket
    attempt = status["artifactUri"].removeprefix(f"s3://{bucket}/")
    body = h.cluster.s3.client().get_object(Bucket=bucket, Key=attempt + Files.METADATA)["Body"]
    tuning = json.loads(body.read())["tuning"]
    assert tuning["trials"] == 12 and tuning["errored"] == 0, tuning
    job = job_prefix("", h.namespace, name).lstrip("/") + "/"
    stored = _files(h, f"s3://{bucket}/{job}{Files.TUNING}/")
    assert sum(1 for key in stored if "/trials/" in key) == 12, sorted(stored)
    assert any("/ray/1/" in key for key in stored), sorted(stored)
