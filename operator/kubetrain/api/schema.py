"""From pydantic's JSON Schema to a Kubernetes structural schema.

pydantic writes JSON Schema 2020-12 with `$defs` and `$ref`, `anyOf: [X, null]` for optional
fields and numeric `exclusiveMinimum`. A CRD needs a structural OpenAPI v3 schema: everything
inlined, a `type` on every node, no nulls, boolean `exclusiveMinimum`. Unknown fields need no
`additionalProperties: false`: the API server rejects them (strict field validation).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_KEY_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "items",
    "additionalProperties",
)
_DROPPED = ("title", "$defs")


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of `model`'s Kubernetes JSON form."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _convert(raw, raw.get("$defs", {}))
    _check_structural(schema, model.__name__)
    return schema


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = dict(node)
    if "$ref" in node:  # siblings of a $ref (description, default) win over the target's
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        options = [option for option in node.pop("anyOf") if option.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"a union the schema cannot express: {options}")
        node = {**options[0], **node}
        if "$ref" in node:
            return _convert(node, defs)
    if node.get("default", 0) is None:
        del node["default"]
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    for bound in ("Minimum", "Maximum"):
        exclusive = node.get(f"exclusive{bound}")
        if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
            node[bound.lower()] = exclusive
            node[f"exclusive{bound}"] = True
    if "properties" in node:
        node["properties"] = {k: _convert(v, defs) for k, v in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _convert(node[key], defs)
    for key in _DROPPED:
        node.pop(key, None)
    return _ordered(node)


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    rank = {key: i for i, key in enumerate(_KEY_ORDER)}
    return dict(sorted(node.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _check_structural(node: dict[str, Any], path: str) -> None:
    """Every node has a type, unless it preserves unknown fields or is an int-or-string."""
    untyped_ok = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
        "x-kubernetes-int-or-string"
    )
    if "type" not in node and not untyped_ok:
        raise ValueError(f"{path}: no type, so the schema would not be structural")
    for name, child in node.get("properties", {}).items():
        _check_structural(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _check_structural(node[key], f"{path}[]")
