"""Kubernetes resource quantities ("500m", "2", "1.5", "4Gi"), read without the kubernetes package.

The pure layers (api, builders, state) may not import the API client library, so the one parser
of quantities lives here, below all of them. It reads exactly what
`kubernetes.utils.parse_quantity` reads, to the same value (a unit test holds them together).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_BINARY = {f"{p}i": Decimal(1024) ** e for e, p in enumerate("KMGTPE", start=1)}
_DECIMAL = {
    "n": Decimal(1000) ** -3,
    "u": Decimal(1000) ** -2,
    "m": Decimal(1000) ** -1,
    "k": Decimal(1000),
    "M": Decimal(1000) ** 2,
    "G": Decimal(1000) ** 3,
    "T": Decimal(1000) ** 4,
    "P": Decimal(1000) ** 5,
    "E": Decimal(1000) ** 6,
}


def parse_quantity(quantity: str | int | float | Decimal) -> Decimal:
    """The value of a quantity; ValueError naming it when it is not one."""
    if isinstance(quantity, int | float | Decimal):
        return Decimal(quantity)
    text = str(quantity)
    number, factor = text, Decimal(1)
    if text[-2:] in _BINARY:
        number, factor = text[:-2], _BINARY[text[-2:]]
    elif text[-1:] in _DECIMAL:
        number, factor = text[:-1], _DECIMAL[text[-1:]]
    try:
        return Decimal(number) * factor
    except InvalidOperation:
        raise ValueError(f"{quantity!r} is not a quantity such as 2, 500m or 4Gi") from None


def cpu_cores(quantity: str | int | float) -> float:
    """A CPU quantity in cores: "500m" is 0.5, "2" is 2.0."""
    return float(parse_quantity(quantity))
