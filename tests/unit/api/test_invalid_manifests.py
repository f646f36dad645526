"""pydantic rejects every manifest of the invalid table, naming the field (the API server's
half of the same table is in tests/integration/test_crd.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests.unit.api.cases import InvalidCase, invalid_cases

from kubetrain.api import TrainingJob, field_errors

CASES = invalid_cases()


def test_the_table_has_at_least_40_cases() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_pydantic_rejects_naming_the_field(case: InvalidCase) -> None:
    with pytest.raises(ValidationError) as raised:
        TrainingJob.model_validate(case.manifest, by_alias=True, by_name=False)
    paths = [error.path for error in field_errors(raised.value)]
    # The API server may name the object where pydantic names the field within it.
    expected = case.dotted_path
    assert any(p == expected or p.startswith((f"{expected}.", f"{expected}[")) for p in paths), (
        paths
    )
