"""kopf handlers: thin. Each turns a watch event into `Reconciler.reconcile(ns, name)`.

Only `on.event` handlers are used: they keep no per-object state in the API (no progress
annotations, no finalizers), so a job costs no API writes beyond its own status changes.
Time-driven work (progress polling while running, deadlines, TTL, gang retries) is done by the
ticker thread (`handlers.ticker`) that the startup handler starts.

The handlers find their `Reconciler` in kopf's memo: `kopf.run(memo=operator_memo(r))` puts it
in the operator's memo, and kopf hands every resource handler a shallow copy of that memo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from kubetrain.api import GROUP, PLURAL, VERSION
from kubetrain.builders.naming import LABEL_JOB
from kubetrain.handlers import ticker
from kubetrain.handlers.reconcile import Reconciler


def operator_memo(reconciler: Reconciler) -> kopf.Memo:
    """The memo to start kopf with: it carries the reconciler to every handler."""
    return kopf.Memo(reconciler=reconciler)


def _reconciler(memo: kopf.Memo) -> Reconciler:
    reconciler = memo.get("reconciler")
    if not isinstance(reconciler, Reconciler):
        raise kopf.PermanentError("the operator was started without a reconciler in its memo")
    return reconciler


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Kopf's own bookkeeping stays out of our objects; our Events are our own. Start ticking."""
    settings.posting.enabled = False
    # No cluster-wide discovery: the watched namespaces are exact names and the CRD is read
    # once at start, so the operator needs no access to Namespaces or CRDs (helm/kubetrain RBAC).
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    memo.ticker = ticker.start(_reconciler(memo))


@kopf.on.event(GROUP, VERSION, PLURAL)
def training_job_event(
    type: str, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    """A TrainingJob was created, changed or deleted."""
    reconciler = _reconciler(memo)
    if namespace is None:
        return
    if type == "DELETED":
        reconciler.forget(namespace, name)
        return
    ticker.safe_reconcile(reconciler, namespace, name)


@kopf.on.event("", "v1", "pods", labels={LABEL_JOB: kopf.PRESENT})
def trainer_pod_event(
    namespace: str | None, labels: Mapping[str, str], memo: kopf.Memo, **_: Any
) -> None:
    """A pod of some TrainingJob changed: reconcile its job."""
    if namespace is not None:
        ticker.safe_reconcile(_reconciler(memo), namespace, labels[LABEL_JOB])
