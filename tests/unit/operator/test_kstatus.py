"""What kstatus (sigs.k8s.io/cli-utils, the reader of Flux and kpt) makes of a TrainingJob.

Run on the statuses `state.decide` writes, through the real kstatus built from Go modules.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from tests.support.tools import tool
from tests.unit.operator.job_statuses import job, statuses

pytestmark = pytest.mark.tools


STATUSES = statuses()


def kstatus(obj: dict[str, Any]) -> str:
    out = subprocess.run(
        [str(tool("kstatus"))], input=json.dumps(obj), capture_output=True, text=True, check=True
    )
    return str(json.loads(out.stdout)["status"])


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Pending", "InProgress"),
        ("Running", "InProgress"),
        ("Succeeded", "Current"),
        ("Failed", "Failed"),
        ("Suspended", "InProgress"),
    ],
)
def test_kstatus_reads_the_phase(phase: str, expected: str) -> None:
    assert kstatus(job(STATUSES[phase])) == expected


def test_a_spec_change_not_yet_observed_is_in_progress() -> None:
    assert kstatus(job(STATUSES["Succeeded"], generation=4)) == "InProgress"


def test_the_status_before_this_change_read_current_when_failed() -> None:
    """The bug this fixes: without the summary conditions a failed job looked healthy."""
    old = dict(STATUSES["Failed"])
    old["conditions"] = [
        c for c in old["conditions"] if c["type"] not in ("Ready", "Reconciling", "Stalled")
    ]
    assert kstatus(job(old)) == "Current"
