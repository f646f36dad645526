"""One parser of resource quantities for every layer, reading what the Kubernetes client reads."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils import parse_quantity as client_parse_quantity

from kubetrain.quantity import cpu_cores, parse_quantity

SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


@given(
    number=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
    suffix=st.sampled_from(SUFFIXES),
)
def test_agrees_with_the_kubernetes_client(number: Decimal, suffix: str) -> None:
    text = f"{number}{suffix}"
    assert parse_quantity(text) == client_parse_quantity(text)


@pytest.mark.parametrize(("quantity", "cores"), [("500m", 0.5), ("2", 2.0), ("1.5", 1.5), (3, 3.0)])
def test_cpu_cores(quantity: str | int, cores: float) -> None:
    assert cpu_cores(quantity) == cores


@pytest.mark.parametrize("bad", ["", "ki", "1ki", "two", "1.2.3m"])
def test_a_bad_quantity_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        parse_quantity(bad)
