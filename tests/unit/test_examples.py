"""Every example says what a user will see when it runs (its `# Expect:` line), and a verdict
it promises is the one its objective defines."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.examples import EXAMPLES, example, expectation

from kubetrain.api import Phase


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_promises_an_outcome(path: Path) -> None:
    promise = expectation(path.name)
    assert promise.phase in {p.value for p in Phase}, promise.text
    objective = example(path.name)["spec"]["problem"]["objective"]
    # A promised verdict is the objective's own; an example may promise no verdict at all.
    own_verdict = (objective["metric"], objective.get("threshold"))
    assert (promise.metric, promise.value) in {(None, None), own_verdict}, promise.text
