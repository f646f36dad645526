"""Hypothesis strategies for TrainingJob manifests, drawn from the generated CRD's schema.

Manifests are examples with one to three random edits: a field deleted, or set to a value
drawn from the field's schema (mostly well-typed, near and beyond its bounds, sometimes of
another type). Edits break rules often, so both valid and invalid manifests come out.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from tests.support.examples import EXAMPLES, example

from kubetrain.api.crdgen import crd as generated_crd

SPEC_SCHEMA = generated_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
    "spec"
]
KEYS = ["C", "max_depth", "n_estimators", "hidden_units", "learningRate", "dropout", "colour"]
QUANTITIES = ["1", "500m", "4Gi", "0", "0.5", ".5", "1.5Gi", "1Ei", "lots", "-1", "2e3", "0.0"]
ANY_VALUE = st.one_of(
    st.integers(-10, 1000),
    st.floats(-10, 10, allow_nan=False),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.integers(1, 128), max_size=3),
)
WRONG_TYPE = {
    "integer": st.sampled_from(["7", 2.5, True]),
    "number": st.sampled_from(["1.0", True]),
    "boolean": st.sampled_from(["true", 1]),
    "string": st.sampled_from([5, True, ["a"]]),
    "object": st.sampled_from(["x", [1]]),
    "array": st.sampled_from(["x", {"a": 1}]),
}


def schema_values(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for a schema node: mostly well-typed, sometimes of another type."""
    valid = well_typed(node)
    wrong = WRONG_TYPE.get(node.get("type", ""))
    return st.one_of(valid, valid, valid, wrong) if wrong is not None else valid


def well_typed(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        return st.one_of(st.integers(-2, 64), st.sampled_from(QUANTITIES))
    if kind is None or (kind == "object" and node.get("x-kubernetes-preserve-unknown-fields")):
        return (
            ANY_VALUE
            if kind is None
            else st.dictionaries(st.sampled_from(KEYS), ANY_VALUE, max_size=3)
        )
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        low = node.get("minimum", -3) - 2
        high = node.get("maximum", low + 300) + 2
        integers = st.integers(int(low), int(min(high, 2**53)))
        if kind == "integer":
            return integers
        return st.one_of(integers, st.floats(low, min(high, 1e16), allow_nan=False))
    if kind == "string":
        longest = node.get("maxLength", 20) + 2
        if "pattern" in node:
            matching = st.from_regex(node["pattern"], fullmatch=True)
            return st.one_of(matching.filter(lambda s: len(s) <= longest), st.text(max_size=8))
        return st.text(max_size=min(longest, 24))
    if kind == "array":
        return st.lists(schema_values(node["items"]), max_size=3)
    if "additionalProperties" in node:
        return st.dictionaries(
            st.sampled_from(KEYS), schema_values(node["additionalProperties"]), max_size=3
        )
    properties = node.get("properties", {})
    required = set(node.get("required", ()))
    return st.fixed_dictionaries(
        {name: schema_values(properties[name]) for name in required},
        optional={name: schema_values(p) for name, p in properties.items() if name not in required},
    )


def field_paths(
    node: dict[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every field under the spec, with `*` for a map key."""
    found = [(path, node)] if path else []
    for name, child in node.get("properties", {}).items():
        found += field_paths(child, (*path, name))
    if isinstance(node.get("additionalProperties"), dict):
        found += field_paths(node["additionalProperties"], (*path, "*"))
    return found


FIELDS = field_paths(SPEC_SCHEMA)


@st.composite
def edited_examples(draw: st.DrawFn) -> dict[str, Any]:
    manifest = example(draw(st.sampled_from(EXAMPLES)).name)
    for _ in range(draw(st.integers(1, 3))):
        path, node = draw(st.sampled_from(FIELDS))
        keys = [draw(st.sampled_from(KEYS)) if part == "*" else part for part in path]
        parent = manifest["spec"]
        for key in keys[:-1]:
            if not isinstance(parent.get(key), dict):
                parent[key] = {}
            parent = parent[key]
        if draw(st.integers(0, 3)) == 0:
            parent.pop(keys[-1], None)
        else:
            parent[keys[-1]] = draw(schema_values(node))
    return manifest


BUILTIN_EXAMPLES = [p.name for p in EXAMPLES if "builtin" in example(p.name)["spec"]["model"]]
PROFILE_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
SEMANTIC_EDITS: list[tuple[tuple[str, ...], st.SearchStrategy[Any]]] = [
    (("model", "builtin", "hyperparameters", "*"), ANY_VALUE),
    (("compute", "profile"), PROFILE_NAMES),
    (("compute", "gpusPerWorker"), st.integers(1, 20)),
    (("problem", "objective", "threshold"), st.floats(-1e6, 1e6, allow_nan=False)),
    (("problem", "target"), st.text("abcxyz_", min_size=1, max_size=8)),
    (("preparation", "classWeights"), st.just("balanced")),
]


@st.composite
def semantically_edited_examples(draw: st.DrawFn) -> dict[str, Any]:
    """Examples of built-in models with one to three edits the schema allows but the operator
    may not: unknown hyperparameters, compute profiles, GPUs, unreachable thresholds, ..."""
    manifest = example(draw(st.sampled_from(BUILTIN_EXAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        path, values = draw(st.sampled_from(SEMANTIC_EDITS))
        parent = manifest["spec"]
        keys = [draw(st.sampled_from(KEYS)) if part == "*" else part for part in path]
        for key in keys[:-1]:
            parent = parent.setdefault(key, {})
        parent[keys[-1]] = draw(values)
    return manifest
