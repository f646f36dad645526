"""The kopf handlers find their Reconciler in kopf's memo, also in the per-object copies kopf
hands to resource handlers; an operator started without one says so."""

from __future__ import annotations

import asyncio
import copy
from typing import Any, cast

import kopf
import pytest
from tests.support.examples import example
from tests.support.fake_kube import FakeKube, NoReports

from kubetrain import handlers
from kubetrain.builders.naming import LABEL_JOB
from kubetrain.config import OperatorConfig
from kubetrain.handlers.reconcile import Reconciler
from kubetrain.handlers.workqueue import Work


def test_resource_handlers_get_the_operators_reconciler() -> None:
    reconciler = Reconciler(FakeKube(), OperatorConfig(), reports=NoReports())
    operator_memo = handlers.operator_memo(reconciler)
    per_object = copy.copy(operator_memo)  # what kopf gives each resource's handlers
    assert handlers._reconciler(per_object) is reconciler


def test_a_memo_without_a_reconciler_is_a_permanent_error() -> None:
    with pytest.raises(kopf.PermanentError, match="without a reconciler"):
        handlers._reconciler(kopf.Memo())


def _call(handler: Any, **kwargs: Any) -> None:
    """Run a kopf handler as kopf would, with the arguments it uses."""
    asyncio.run(handler(**kwargs))


def _body(raw: dict[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, raw))


def test_a_job_event_queues_the_job_with_its_body_and_no_field_managers() -> None:
    memo = handlers.operator_memo(Reconciler(FakeKube(), OperatorConfig(), reports=NoReports()))
    raw = {
        "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "4", "managedFields": [{}]},
        "spec": {},
    }
    event = {"type": "ADDED", "namespace": "ns", "name": "a", "body": _body(raw), "memo": memo}
    _call(handlers.training_job_event, **event)
    _call(handlers.training_job_event, **event)  # the same job again: still one entry
    queue = handlers._queue(memo)
    assert len(queue) == 1
    work = queue.get(0)
    assert work is not None and work.key == ("ns", "a")
    assert work.body == {
        "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "4"},
        "spec": {},
    }


def test_a_deleted_job_is_forgotten_not_queued() -> None:
    memo = handlers.operator_memo(Reconciler(FakeKube(), OperatorConfig(), reports=NoReports()))
    raw = {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "4"}}
    _call(
        handlers.training_job_event,
        type="DELETED",
        namespace="ns",
        name="a",
        body=_body(raw),
        memo=memo,
    )
    assert len(handlers._queue(memo)) == 0


def _pod_event(memo: kopf.Memo, phase: str, deleting: bool = False) -> Work | None:
    meta = {"name": "iris-forest-a1-trainer", "deletionTimestamp": "x" if deleting else None}
    _call(
        handlers.trainer_pod_event,
        namespace="ns",
        labels={LABEL_JOB: "iris-forest"},
        status={"phase": phase},
        meta=meta,
        memo=memo,
    )
    return handlers._queue(memo).get(0)


def test_a_pods_event_queues_its_job_only_when_it_can_matter() -> None:
    kube = FakeKube()
    reconciler = Reconciler(kube, OperatorConfig(), reports=NoReports())
    memo = handlers.operator_memo(reconciler)
    job = kube.add_job(example("classification-iris"), "ns", "uid-1")
    # Not reconciled yet (a restart's listing): only an active pod is news.
    assert _pod_event(memo, "Succeeded") is None
    assert _pod_event(memo, "Running") == Work(("ns", job.name), None, active_pod=True)
    handlers._queue(memo).done(("ns", job.name))
    reconciler.reconcile("ns", job.name)  # now Pending: any change of its pods is news
    assert _pod_event(memo, "Succeeded") == Work(("ns", job.name), None, active_pod=False)
    handlers._queue(memo).done(("ns", job.name))
    assert _pod_event(memo, "Running", deleting=True) == Work(("ns", job.name), None, False)
    handlers._queue(memo).done(("ns", job.name))
    (kube.job(job) or {})["status"]["phase"] = "Succeeded"
    reconciler.reconcile("ns", job.name)  # finished: only a pod that still runs is news
    assert _pod_event(memo, "Failed") is None
    assert _pod_event(memo, "Running", deleting=True) is None
    assert _pod_event(memo, "Running") == Work(("ns", job.name), None, active_pod=True)
