"""TTL vs GitOps (docs/gitops.md): what a sync does to a finished job, with and without a TTL."""

from __future__ import annotations

import datetime as dt

from tests.unit.operator.job_statuses import NOW, statuses

from kubetrain.state import Policy, Snapshot, decide

FINISHED = statuses()["Succeeded"]
A_YEAR_LATER = NOW + dt.timedelta(days=365)


def test_without_ttl_a_finished_job_stays_and_a_sync_never_retrains_it() -> None:
    # A sync re-applies the manifest: unchanged (generation 3), or with a mutable field changed
    # (generation 4; other fields of a started job are frozen by the CRD).
    for generation in (3, 4):
        d = decide(Snapshot(generation, FINISHED, Policy()), [], None, A_YEAR_LATER, 60)
        assert (d.delete_job, d.create_attempt) == (False, None)
        assert d.status["phase"] == "Succeeded" and d.status["attempt"] == 1


def test_with_ttl_the_job_is_deleted_and_a_sync_would_train_it_again() -> None:
    """The hazard the recommendation avoids: after the TTL the object is gone, and the same
    manifest applied again is a new job that starts attempt 1 from scratch."""
    later = NOW + dt.timedelta(hours=2)
    d = decide(Snapshot(3, FINISHED, Policy(ttl_seconds_after_finished=3600)), [], None, later, 60)
    assert d.delete_job is True
    recreated = decide(
        Snapshot(1, {}, Policy(ttl_seconds_after_finished=3600)), [], None, later, 60
    )
    assert recreated.create_attempt == 1
