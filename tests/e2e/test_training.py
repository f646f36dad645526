"""TrainingJobs that really train: the operator places them on the `local` node, the trainer
runs (alone, or as a 2-node Ray cluster), artifacts land in S3, the verdict in status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.examples import Expectation, example, expectation
from tests.support.operator_harness import Harness, wait_for


def artifacts(h: Harness, uri: str) -> set[str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    listing = h.cluster.s3.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :] for o in listing.get("Contents", [])}


def assert_as_promised(h: Harness, name: str, promise: Expectation) -> dict[str, Any]:
    """The job ended as its example's `# Expect:` line says, with every artifact in S3."""
    status = h.status(name)
    assert status["phase"] == promise.phase == "Succeeded", status.get("message")
    assert status["successCriteriaMet"] is True
    assert promise.comparison == ">=" and promise.value is not None, promise.text
    assert status["bestMetric"]["name"] == promise.metric
    assert status["bestMetric"]["value"] >= promise.value
    files = artifacts(h, status["artifactUri"])
    assert {"metrics.json", "metadata.json", "spec.json", "report.html"} <= files, files
    assert any(f.startswith("model/") for f in files)
    table = h.cluster.kubectl("get", "tj", name, "-n", h.namespace).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:5] == ["NAME", "PHASE", "PROGRESS", "BEST", "ATTEMPT"]
    assert "Succeeded" in row
    assert f"{status['bestMetric']['value']:g}"[:4] in row
    return status


def test_single_worker_job_trains_and_reports(harness: Harness) -> None:
    harness.operator()
    harness.apply(example("classification-iris.yaml"))
    wait_for(
        lambda: harness.status("iris-forest").get("phase") in ("Succeeded", "Failed"),
        240,
        "the job to finish",
    )
    status = assert_as_promised(harness, "iris-forest", expectation("classification-iris"))
    assert status["attempt"] == 1
    assert status["computeUsed"]["cpuSeconds"] > 0


def test_two_worker_ray_job_trains_and_reports(harness: Harness, tmp_path: Path) -> None:
    harness.operator()
    manifest = example("multi-worker.yaml", compute={"profile": "local", "workers": 2})
    manifest["spec"]["model"]["training"]["epochs"] = 4
    harness.apply(manifest)
    name = manifest["metadata"]["name"]
    wait_for(
        lambda: harness.status(name).get("phase") in ("Succeeded", "Failed"),
        480,
        "the Ray job to finish",
    )
    status = harness.status(name)
    if status.get("phase") != "Succeeded":
        logs = "\n".join(
            f"--- {p['metadata']['name']} ({p['status'].get('phase')})\n"
            + harness.cluster.kubectl(
                "logs", p["metadata"]["name"], "-n", harness.namespace, "--tail=30", check=False
            ).stdout
            for p in harness.pods(name)
        )
        raise AssertionError(f"{status.get('message')}\n{status.get('conditions')}\n{logs}")
    assert_as_promised(harness, name, expectation("multi-worker"))
    # Both Ray nodes took part: the head ran the driver, the worker pod joined the cluster.
    metadata = (
        harness.cluster.s3.client()
        .get_object(
            Bucket=harness.cluster.s3.bucket,
            Key=status["artifactUri"].removeprefix(f"s3://{harness.cluster.s3.bucket}/")
            + "metadata.json",
        )["Body"]
        .read()
    )
    assert b'"workers": 2' in metadata
