"""The summary conditions GitOps tools read: Ready, Reconciling (kstatus) and Stalled."""

from __future__ import annotations

import pytest
from tests.unit.operator.job_statuses import statuses

STATUSES = statuses()


def summary(phase: str) -> dict[str, tuple[str, str]]:
    conds = STATUSES[phase]["conditions"]
    return {c["type"]: (c["status"], c["reason"]) for c in conds if c["type"] in SUMMARY}


SUMMARY = ("Ready", "Reconciling", "Stalled")


def test_every_phase_is_reached() -> None:
    assert {p: s["phase"] for p, s in STATUSES.items()} == {p: p for p in STATUSES}


@pytest.mark.parametrize(
    ("phase", "ready", "reconciling", "stalled"),
    [
        ("Pending", "False", "True", "False"),
        ("Running", "False", "True", "False"),
        ("Succeeded", "True", "False", "False"),
        ("Failed", "False", "False", "True"),
        ("Suspended", "False", "False", "False"),
    ],
)
def test_summary_conditions_follow_the_phase(
    phase: str, ready: str, reconciling: str, stalled: str
) -> None:
    got = summary(phase)
    assert (got["Ready"][0], got["Reconciling"][0], got["Stalled"][0]) == (
        ready,
        reconciling,
        stalled,
    )


def test_stalled_names_why_the_job_failed() -> None:
    assert summary("Failed")["Stalled"] == ("True", "BackoffLimitExceeded")
    assert "boom" in STATUSES["Failed"]["message"]


def test_summary_conditions_carry_the_observed_generation() -> None:
    for status in STATUSES.values():
        assert status["observedGeneration"] == 3
        assert all(c["observedGeneration"] == 3 for c in status["conditions"])
