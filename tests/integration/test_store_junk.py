"""Junk in a running job's store: the trainer's files are read by the operator, and anything
may be in them (a user's own code writes there too). Binary junk, NaN, integers beyond int64
and nesting deeper than any parser's stack in progress.json and metrics.json neither crash nor
wedge the operator: the job converges, and the verdict says the metrics file is not valid."""

from __future__ import annotations

import time
from typing import Any

from tests.support.manifests import custom_job
from tests.support.operator_harness import Harness, wait_for

from kubetrain.api.contract import Files, attempt_prefix

PROGRESS_INTERVAL = 2  # progressIntervalSeconds of the harness's operator
JUNK_PROGRESS = [
    b'{"stage": "training", "completed": 1e999, "total": 123456789012345678901234567890, '
    b'"unit": "epochs", "bestMetric": {"name": "loss", "value": NaN}}',
    b"\x00\xff\xfe junk \x80" * 100,
    b"[" * 200_000,
]
JUNK_METRICS = b'{"objective": {"metric": "accuracy", "value": ' + b"[" * 200_000


def test_junk_in_the_store_neither_crashes_nor_wedges_the_operator(harness: Harness) -> None:
    op = harness.operator()
    harness.apply(custom_job("junk", "import time; time.sleep(30)"))
    wait_for(lambda: harness.status("junk").get("phase") == "Running", 120, "the job to run")
    bucket = harness.cluster.s3.bucket
    prefix = attempt_prefix("", harness.namespace, "junk", 1).lstrip("/")
    s3 = harness.cluster.s3.client()

    def put(name: str, body: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)

    for junk in JUNK_PROGRESS:
        put(Files.PROGRESS, junk)
        time.sleep(PROGRESS_INTERVAL * 2)  # the operator reads progress.json at this interval
        assert harness.status("junk").get("progress") is None
        assert op.proc is not None and op.proc.poll() is None

    # The verdict is read once the pod has ended: put junk metrics there before the operator
    # (stopped meanwhile) reads them.
    op.stop()
    wait_for(
        lambda: (
            (pods := harness.pods("junk"))
            and all(p["status"].get("phase") == "Succeeded" for p in pods)
        ),
        120,
        "the pod to finish",
    )
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert prefix + Files.METRICS in {o["Key"] for o in listing.get("Contents", [])}
    assert harness.status("junk")["phase"] == "Running", "the stopped operator saw no end"
    put(Files.METRICS, JUNK_METRICS)
    op = harness.operator()
    status = wait_for(
        lambda: (s := harness.status("junk")).get("phase") in ("Succeeded", "Failed") and s,
        120,
        "the job to converge",
    )
    assert status["phase"] == "Succeeded", status
    verdict: dict[str, Any] = next(
        c for c in status["conditions"] if c["type"] == "SuccessCriteriaMet"
    )
    assert verdict["status"] == "Unknown"
    assert f"{Files.METRICS} is not valid" in verdict["message"], verdict
    assert op.proc is not None and op.proc.poll() is None, "the operator is still running"
    assert "Traceback" not in (harness.tmp / "operator.log").read_text()
