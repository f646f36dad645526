"""The chart's RBAC grants exactly the API calls the operator makes: no more, no less.

The calls are read from the source: every Kubernetes client method `kube.py` and `leader.py`
reference, and the list+watch of every resource a kopf handler watches (handlers/).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from tests.support import ROOT
from tests.unit.helm.chart import find, render

import kubetrain.api
from kubetrain.builders import kueue

pytestmark = pytest.mark.tools


PKG = ROOT / "operator" / "kubetrain"
CALL = re.compile(
    r"^(?P<verb>read|get|list|create|patch|replace|delete_collection|delete)_namespaced_"
    r"(?P<kind>[a-z_]+?)(?P<status>_status)?$"
)
VERBS = {"read": "get", "replace": "update", "delete_collection": "deletecollection"}
GROUPS = {"lease": "coordination.k8s.io", "network_policy": "networking.k8s.io"}
PLURALS = {"network_policy": "networkpolicies"}

Permission = tuple[str, str, str]  # (apiGroup, resource, verb)


def client_calls(path: Path) -> set[Permission]:
    """(group, resource, verb) of each `self.<api>.<verb>_namespaced_<kind>` in the module."""
    found: set[Permission] = set()
    tree = ast.parse(path.read_text())
    # Custom objects other than TrainingJobs: Kueue's Workloads, read by `get_workload`.
    in_workload = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef) and fn.name == "get_workload"
        for node in ast.walk(fn)
    }
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)):
            continue
        match = CALL.match(node.attr)
        if not match or not (
            isinstance(node.value.value, ast.Name) and node.value.value.id == "self"
        ):
            continue
        kind = match["kind"]
        if kind == "custom_object" and id(node) in in_workload:
            group, resource = kueue.WORKLOAD_GROUP, kueue.WORKLOAD_PLURAL
        elif kind == "custom_object":
            group, resource = kubetrain.api.GROUP, kubetrain.api.PLURAL
        else:
            group = GROUPS.get(kind, "")
            resource = PLURALS.get(kind, kind.replace("_", "") + "s")
        if match["status"]:
            resource += "/status"
        found.add((group, resource, VERBS.get(match["verb"], match["verb"])))
    return found


def kopf_watches(path: Path) -> set[Permission]:
    """list and watch for each `@kopf.on.event(group, version, plural)` handler."""
    found: set[Permission] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "kopf.on.event":
            group, _, plural = (_value(arg) for arg in node.args[:3])
            found |= {(group, plural, "list"), (group, plural, "watch")}
    return found


def _value(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    return str(getattr(kubetrain.api, ast.unparse(node)))  # GROUP, PLURAL, ...


def needed() -> tuple[set[Permission], set[Permission]]:
    """(in each watched namespace, in the operator's own namespace for leader election)."""
    calls = client_calls(PKG / "kube.py") | kopf_watches(PKG / "handlers" / "__init__.py")
    return calls, client_calls(PKG / "leader.py")


def granted(role: dict[str, Any]) -> set[Permission]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_source_scan_sees_the_operators_calls() -> None:
    jobs, lease = needed()
    assert ("kubetrain.io", "trainingjobs/status", "patch") in jobs
    assert ("", "pods", "deletecollection") in jobs
    assert ("", "pods", "watch") in jobs
    assert lease == {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}


def test_namespaced_roles_grant_exactly_what_the_operator_calls() -> None:
    jobs, lease = needed()
    objs = render({"watch": {"namespaces": ["ml-a", "ml-b"]}})
    roles = {r["metadata"]["namespace"]: r for r in find(objs, "Role")}
    assert set(roles) == {"ml-a", "ml-b", "kubetrain-system"}
    assert granted(roles["ml-a"]) == jobs
    assert granted(roles["ml-b"]) == jobs
    assert granted(roles["kubetrain-system"]) == lease
    assert find(objs, "ClusterRole") == [] and find(objs, "ClusterRoleBinding") == []


def test_lease_get_and_update_are_limited_to_the_operators_lease() -> None:
    role = find(render(), "Role", "kt-kubetrain-leader-election")[0]
    named = [r for r in role["rules"] if "resourceNames" in r]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["kubetrain-operator"],
            "verbs": ["get", "update"],
        }
    ]


def test_cluster_wide_mode_has_one_cluster_role_with_the_same_rules() -> None:
    jobs, _ = needed()
    objs = render({"watch": {"clusterWide": True}})
    (cluster_role,) = find(objs, "ClusterRole")
    assert granted(cluster_role) == jobs
    assert [r["metadata"]["namespace"] for r in find(objs, "Role")] == ["kubetrain-system"]
    (binding,) = find(objs, "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == "kt-kubetrain"


def test_no_wildcards_anywhere() -> None:
    for values in (None, {"watch": {"clusterWide": True}}):
        for role in find(render(values), "Role") + find(render(values), "ClusterRole"):
            for rule in role["rules"]:
                assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
