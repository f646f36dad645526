"""Hundreds of generated invalid TrainingJobs against the real API server and operator: each
is rejected at admission naming its field, or accepted and failed by the operator with reason
InvalidSpec naming every field path the operator's own check names; the operator never
crashes and starts no pod for any of them."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from tests.support.operator_harness import PROFILES, Harness, wait_for
from tests.support.spec_strategies import edited_examples, semantically_edited_examples

from kubetrain.api import GROUP, PLURAL, VERSION
from kubetrain.api.compute import ComputeProfile
from kubetrain.api.semantic import FieldError, check_training_job

WANTED = int(os.environ.get("KUBETRAIN_INVALID_JOBS", "200"))


def invalid_manifests(count: int) -> list[tuple[dict[str, Any], list[FieldError], bool]]:
    """`count` generated manifests the operator's own check finds invalid: each with its
    field errors and whether the schema (hence the API server) rejects it."""
    profiles = {p["name"]: ComputeProfile.model_validate(p) for p in PROFILES}
    found: list[tuple[dict[str, Any], list[FieldError], bool]] = []

    @settings(
        max_examples=count * 4,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(edited_examples(), semantically_edited_examples()))
    def collect(manifest: dict[str, Any]) -> None:
        job, errors = check_training_job(manifest, profiles, "local")
        if errors and len(found) < count:
            found.append((manifest, errors, job is None))

    collect()
    return found


def create(api: CustomObjectsApi, namespace: str, manifest: dict[str, Any]) -> str | None:
    """None if the API server stored the job, else its message."""
    try:
        api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, manifest, field_validation="Strict"
        )
    except ApiException as error:
        assert error.status in (400, 422), error.body
        return str(json.loads(error.body)["message"])
    return None


def test_generated_invalid_jobs_are_rejected_or_failed_as_invalid_spec(harness: Harness) -> None:
    cases = invalid_manifests(WANTED)
    assert len(cases) == WANTED
    op = harness.operator()
    api = CustomObjectsApi(harness.cluster.api_client())
    accepted: dict[str, list[FieldError]] = {}
    for i, (manifest, errors, schema_invalid) in enumerate(cases):
        name = manifest["metadata"]["name"] = f"invalid-{i:03d}"
        manifest["metadata"].pop("namespace", None)
        message = create(api, harness.namespace, manifest)
        if message is None:
            assert not schema_invalid, f"the API server took {manifest}; pydantic: {errors}"
            accepted[name] = errors
        else:
            assert schema_invalid, f"the API server refused a valid schema: {message}"
            assert any(e.path.split("[")[0].split(".")[1] in message for e in errors), message
    assert accepted and len(accepted) < len(cases), "both outcomes are exercised"

    def failed() -> dict[str, dict[str, Any]]:
        items = api.list_namespaced_custom_object(GROUP, VERSION, harness.namespace, PLURAL)
        return {
            job["metadata"]["name"]: job.get("status") or {}
            for job in items["items"]
            if (job.get("status") or {}).get("phase") == "Failed"
        }

    statuses = wait_for(lambda: (f := failed()).keys() >= accepted.keys() and f, 300, "Failed")
    for name, errors in accepted.items():
        [cond] = [c for c in statuses[name]["conditions"] if c["type"] == "Failed"]
        assert cond["reason"] == "InvalidSpec", cond
        for error in errors:
            assert error.path in cond["message"], (error, cond["message"])
    assert harness.get("pods")["items"] == []
    assert op.proc is not None and op.proc.poll() is None, "the operator is still running"
    assert "Traceback" not in (harness.tmp / "operator.log").read_text()
