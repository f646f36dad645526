"""The base of every API model, and cross-field rules stated once for both validators.

A TrainingJob is validated twice: by the Kubernetes API server (the generated CRD schema, at
`kubectl apply`) and by pydantic (in the operator and the trainer). Field types and bounds
translate to the schema automatically. Rules that relate several fields cannot, so each is a
`Rule`: a CEL expression for the API server and a Python predicate for pydantic, written side by
side in the model they constrain. The property test in tests/integration/test_crd.py keeps the
two halves in agreement.

Field types here are strict where the API server is (no "3" for 3, no "true" for true), so that
what one validator accepts the other accepts too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from kubetrain.quantity import parse_quantity


@dataclass(frozen=True)
class Rule:
    """A cross-field rule: `cel` for the API server, `holds` for pydantic, one `message`.

    `field` is the JSON path, relative to the model, of the field the error should name
    (".parallelTrials"); empty names the model itself. Where CEL cannot see the fields (it
    cannot see untyped values), `schema` gives the rule as a structural value validation
    instead, added to the model's `allOf`.
    """

    message: str
    holds: Callable[[Any], bool]
    cel: str = ""
    field: str = ""
    schema: dict[str, Any] | None = None

    def to_cel(self) -> dict[str, str]:
        rule = {"rule": self.cel, "message": self.message}
        if self.field:
            rule["fieldPath"] = self.field
        return rule


def _add_rules_to_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    rules: tuple[Rule, ...] = getattr(model, "rules", ())
    if cel := [rule.to_cel() for rule in rules if rule.schema is None]:
        schema["x-kubernetes-validations"] = cel
    if value_validations := [rule.schema for rule in rules if rule.schema is not None]:
        schema["allOf"] = value_validations


class ApiModel(BaseModel):
    """Base of the API models: camelCase in Kubernetes JSON, snake_case in Python, no extras."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra=_add_rules_to_schema,
    )

    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        broken = [rule for rule in self.rules if not rule.holds(self)]
        if broken:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("rule", rule.message),
                        loc=tuple(part for part in rule.field.split(".") if part),
                        input=self,
                    )
                    for rule in broken
                ],
            )
        return self

    def to_kubernetes(self) -> dict[str, Any]:
        """The Kubernetes JSON form: camelCase keys, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def defaulted(factory: Callable[[], Any]) -> Any:
    """A field defaulted by `factory`, in pydantic and in the CRD alike.

    The CRD gets the whole default value, not `{}`: the API server checks CEL rules against a
    default as written, before its nested defaults apply.
    """
    value = factory()
    default = value.to_kubernetes() if isinstance(value, ApiModel) else value
    return Field(default_factory=factory, json_schema_extra={"default": default})


def cel_list(values: Any) -> str:
    """A CEL list literal of strings."""
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def cel_table(table: dict[str, Any]) -> str:
    """A CEL map literal from string keys to lists of strings."""
    return "{" + ", ".join(f"'{key}': {cel_list(values)}" for key, values in table.items()) + "}"


# Scalars that the API server and pydantic accept alike.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # strict floats accept ints, like the schema's `number`
Bool = Annotated[bool, Strict()]
Count = Annotated[int, Strict(), Field(ge=1)]
"""A count: a whole number, at least 1."""
Seconds = Annotated[int, Strict(), Field(ge=1, le=31_536_000)]
"""A duration in whole seconds, at most a year."""
Seed = Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]
"""A random seed."""


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
S3_BUCKET = r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
# Character classes are ASCII on purpose: \S means different things to the API server (Go)
# and to pydantic (Rust, Unicode-aware).
VISIBLE = "[!-~]"
"""A printable ASCII character other than space."""

# Strings are bounded: the bounds keep the API server's CEL cost estimates small.
Column = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=256)]
"""A column name in the data."""
Label = Annotated[str, StringConstraints(strict=True, max_length=63, pattern=DNS_LABEL)]
"""A DNS label: lower-case letters, digits and '-', at most 63 characters."""
ObjectName = Annotated[str, StringConstraints(strict=True, max_length=253, pattern=DNS_SUBDOMAIN)]
"""The name of a Kubernetes object such as a Secret."""
S3Uri = Annotated[
    str, StringConstraints(strict=True, max_length=1024, pattern=rf"^{S3_BUCKET}(/{VISIBLE}*)?$")
]
"""`s3://bucket` or `s3://bucket/prefix`."""
S3ObjectUri = Annotated[
    str, StringConstraints(strict=True, max_length=1024, pattern=rf"^{S3_BUCKET}/{VISIBLE}+$")
]
"""`s3://bucket/key`: one object, or a prefix holding several."""
HttpUrl = Annotated[
    str,
    StringConstraints(strict=True, max_length=1024, pattern=rf"^https?://[!-.0-~]+(/{VISIBLE}*)?$"),
]
"""An http(s) URL."""
Text = Annotated[str, StringConstraints(strict=True, max_length=4096)]
"""Free text, at most 4096 characters."""

FreeForm = Annotated[
    dict[str, JsonValue],
    Field(max_length=64),
    WithJsonSchema(
        {"type": "object", "maxProperties": 64, "x-kubernetes-preserve-unknown-fields": True}
    ),
]
"""A map of names to arbitrary JSON values (hyperparameters), checked by the operator."""
AnyValue = Annotated[JsonValue, WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True})]
"""Any JSON value (a choice in a search space), checked by the operator."""

QUANTITY_PATTERN = r"^(([0-9]+(\.[0-9]+)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE])?$"


def _quantity(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("quantity", "must be an integer or a string such as 500m, 4Gi")
    if isinstance(value, str) and not re.fullmatch(QUANTITY_PATTERN, value):
        raise PydanticCustomError("quantity", "must be a quantity such as 2, 500m or 4Gi")
    if parse_quantity(value) <= 0:
        raise PydanticCustomError("quantity", "must be greater than zero")
    return value


Quantity = Annotated[
    int | str,
    PlainValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
            "x-kubernetes-validations": [
                {
                    "rule": "!isQuantity(string(self)) || "
                    "quantity(string(self)).isGreaterThan(quantity('0'))",
                    "message": "must be greater than zero",
                }
            ],
        }
    ),
]
"""A Kubernetes resource quantity greater than zero: `2`, `"500m"`, `"4Gi"`."""
