"""The generated CRD against the real API server: it installs, accepts every example, rejects
the table of invalid manifests naming the field, freezes started jobs, prints its columns, and
agrees with the pydantic models on what is valid and on defaults (hypothesis)."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from tests.support import ROOT
from tests.support.cluster import DevCluster
from tests.support.examples import EXAMPLES, example
from tests.support.manifests import merge_patch
from tests.support.spec_strategies import edited_examples
from tests.unit.api.cases import InvalidCase, invalid_cases

from kubetrain.api import (
    GROUP,
    PLURAL,
    VERSION,
    ComputeUsage,
    Condition,
    MetricValue,
    Phase,
    Progress,
    ProgressUnit,
    TrainingJob,
    TrainingJobStatus,
)
from kubetrain.api.crdgen import CRD_PATH

CRD_NAME = f"{PLURAL}.{GROUP}"
CASES = invalid_cases()


@pytest.fixture(scope="module")
def crd(dev_cluster: DevCluster) -> str:
    """The CRD, installed from the committed file."""
    dev_cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=kubetrain-tests",
        "-f", str(ROOT / CRD_PATH),
    )  # fmt: skip
    dev_cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    return CRD_NAME


def dry_run(cluster: DevCluster, namespace: str, manifest: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-",
        input=json.dumps(manifest), check=False,
    )  # fmt: skip


def test_crd_installs_structural_with_names(dev_cluster: DevCluster, crd: str) -> None:
    installed = json.loads(dev_cluster.kubectl("get", "crd", crd, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in installed["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions.get("NonStructuralSchema", "False") == "False"
    names = installed["status"]["acceptedNames"]
    assert names["shortNames"] == ["tj"] and names["categories"] == ["kubetrain"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_is_accepted(
    dev_cluster: DevCluster, crd: str, namespace: str, path: Path
) -> None:
    result = dry_run(dev_cluster, namespace, yaml.safe_load(path.read_text()))
    assert result.returncode == 0, result.stderr
    assert "created (server dry run)" in result.stdout


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_invalid_manifest_is_rejected_naming_the_field(
    dev_cluster: DevCluster, crd: str, namespace: str, case: InvalidCase
) -> None:
    result = dry_run(dev_cluster, namespace, case.manifest)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    assert case.path in result.stderr, result.stderr


def kubectl_json(cluster: DevCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def create_suspended(cluster: DevCluster, namespace: str, name: str) -> None:
    """An iris job that the operator, if one runs, leaves alone."""
    manifest = merge_patch(
        example("classification-iris.yaml"),
        {"metadata": {"name": name}, "spec": {"runPolicy": {"suspend": True}}},
    )
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def patch(cluster: DevCluster, namespace: str, name: str, body: dict[str, Any], *extra: str) -> Any:
    return cluster.kubectl(
        "patch", "trainingjob", name, "-n", namespace, "--type=merge", "-p", json.dumps(body),
        *extra, check=False,
    )  # fmt: skip


def start(cluster: DevCluster, namespace: str, name: str) -> None:
    """Do what the operator does when the first attempt starts."""
    status = {"status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z", "attempt": 1}}
    result = patch(cluster, namespace, name, status, "--subresource=status")
    assert result.returncode == 0, result.stderr


FROZEN_EDITS: dict[str, dict[str, Any]] = {
    "model": {"spec": {"model": {"builtin": {"hyperparameters": {"n_estimators": 10}}}}},
    "problem": {"spec": {"problem": {"objective": {"threshold": 0.5}}}},
    "tuning added": {
        "spec": {"tuning": {"searchSpace": {"max_depth": {"type": "int", "low": 2, "high": 8}}}}
    },
    "compute": {"spec": {"compute": {"workers": 2}}},
    "backoffLimit": {"spec": {"runPolicy": {"backoffLimit": 0}}},
    "queueName added": {"spec": {"runPolicy": {"queueName": "gpu-queue"}}},
    "priorityClassName added": {"spec": {"runPolicy": {"priorityClassName": "high"}}},
}


def test_spec_is_editable_until_the_job_starts(
    dev_cluster: DevCluster, crd: str, namespace: str
) -> None:
    create_suspended(dev_cluster, namespace, "not-started")
    for edit in FROZEN_EDITS.values():
        result = patch(dev_cluster, namespace, "not-started", edit)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("edit", FROZEN_EDITS.values(), ids=FROZEN_EDITS.keys())
def test_spec_of_a_started_job_is_frozen(
    dev_cluster: DevCluster, crd: str, namespace: str, edit: dict[str, Any]
) -> None:
    create_suspended(dev_cluster, namespace, "started")
    start(dev_cluster, namespace, "started")
    result = patch(dev_cluster, namespace, "started", edit)
    assert result.returncode != 0
    assert "spec: Invalid value" in result.stderr and "frozen" in result.stderr, result.stderr


def test_suspend_deadline_and_ttl_may_change_after_start(
    dev_cluster: DevCluster, crd: str, namespace: str
) -> None:
    create_suspended(dev_cluster, namespace, "started")
    start(dev_cluster, namespace, "started")
    policy = {"activeDeadlineSeconds": 600, "ttlSecondsAfterFinished": 60, "suspend": False}
    result = patch(dev_cluster, namespace, "started", {"spec": {"runPolicy": policy}})
    assert result.returncode == 0, result.stderr
    stored = kubectl_json(dev_cluster, "get", "tj", "started", "-n", namespace)
    assert stored["spec"]["runPolicy"] == {"backoffLimit": 3, **policy}


def full_status() -> TrainingJobStatus:
    """A status with every field the operator may write, built with the pydantic model."""
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    return TrainingJobStatus(
        phase=Phase.RUNNING,
        conditions=[
            Condition(
                type="Running", status="True", reason="AttemptStarted", last_transition_time=now
            )
        ],
        observed_generation=1,
        start_time=now,
        attempt=2,
        progress=Progress.of(7, 10, ProgressUnit.EPOCHS),
        best_metric=MetricValue(name="accuracy", value=0.93),
        best_metrics={"accuracy": 0.93, "f1": 0.91},
        best_hyperparameters={"n_estimators": 200, "hidden_units": [64, 32]},
        trials_failed=0,
        artifact_uri="s3://kubetrain/ns/job/",
        success_criteria_met=True,
        compute_used=ComputeUsage(duration_seconds=60, cpu_seconds=240, gpu_seconds=0),
        message="attempt 2: epoch 7 of 10",
    )


def test_status_model_fits_the_schema_and_printer_columns_show_it(
    dev_cluster: DevCluster, crd: str, namespace: str
) -> None:
    create_suspended(dev_cluster, namespace, "shown")
    status = full_status().to_kubernetes()
    result = patch(dev_cluster, namespace, "shown", {"status": status}, "--subresource=status")
    assert result.returncode == 0, result.stderr
    stored = kubectl_json(dev_cluster, "get", "tj", "shown", "-n", namespace)
    assert TrainingJobStatus.model_validate(stored["status"], by_name=False) == full_status()

    table = dev_cluster.kubectl("get", "kubetrain", "-n", namespace, "-o", "wide").stdout
    assert read_table(table) == [
        {
            "NAME": "shown",
            "PHASE": "Running",
            "PROGRESS": "7/10 epochs",
            "METRIC": "accuracy",
            "BEST": "0.93",
            "MET": "true",
            "ATTEMPT": "2",
            "AGE": read_table(table)[0]["AGE"],
        }
    ]


def read_table(text: str) -> list[dict[str, str]]:
    """kubectl's table output as dicts, cut at the header's column positions."""
    header, *rows = text.rstrip().splitlines()
    columns = list(re.finditer(r"\S+", header))
    names = [column.group() for column in columns]
    starts: list[int | None] = [column.start() for column in columns] + [None]
    return [
        {name: row[starts[i] : starts[i + 1]].strip() for i, name in enumerate(names)}
        for row in rows
    ]


# Property: the pydantic models and the CRD accept the same manifests, with the same defaults,
# for examples with random edits (tests/support/spec_strategies.py): edits break rules often,
# so both "both accept" and "both reject" get tested.


@pytest.fixture(scope="module")
def objects_api(dev_cluster: DevCluster, crd: str) -> Iterator[tuple[CustomObjectsApi, str]]:
    namespace = f"t-crd-{uuid.uuid4().hex[:8]}"
    dev_cluster.kubectl("create", "namespace", namespace)
    yield CustomObjectsApi(dev_cluster.api_client()), namespace
    dev_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@settings(
    max_examples=int(os.environ.get("KUBETRAIN_PROPERTY_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(manifest=edited_examples())
def test_pydantic_and_the_api_server_agree(
    objects_api: tuple[CustomObjectsApi, str], manifest: dict[str, Any]
) -> None:
    api, namespace = objects_api
    try:
        job = TrainingJob.model_validate(manifest, by_alias=True, by_name=False)
        pydantic_says: Any = "accepted"
    except ValidationError as error:
        job, pydantic_says = None, error
    try:
        stored = api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, manifest, dry_run="All", field_validation="Strict"
        )
        server_says: Any = "accepted"
    except ApiException as error:
        if error.status not in (400, 422):
            raise
        stored, server_says = None, json.loads(error.body)["message"]
    assert (job is None) == (stored is None), f"pydantic: {pydantic_says}\nserver: {server_says}"
    event("both reject" if job is None else "both accept")
    if job is not None:
        assert stored["spec"] == job.spec.to_kubernetes()  # the same defaults
