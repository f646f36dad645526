"""kopf handlers: thin. Each turns a watch event into `Reconciler.reconcile(ns, name)`.

Only `on.event` handlers are used: they keep no per-object state in the API (no progress
annotations, no finalizers), so a job costs no API writes beyond its own status changes.
Time-driven work (progress polling while running, deadlines, TTL, gang retries) is done by one
ticker thread that reconciles the jobs whose `Reconciler.due` time has come.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import kopf

from kubetrain.api import GROUP, PLURAL, VERSION
from kubetrain.builders.naming import LABEL_JOB
from kubetrain.handlers.reconcile import Reconciler

log = logging.getLogger("kubetrain.handlers")


class _Holder:
    reconciler: Reconciler | None = None


def install(reconciler: Reconciler) -> None:
    """Hand the handlers their reconciler and start the ticker (called before kopf.run)."""
    _Holder.reconciler = reconciler
    threading.Thread(target=_tick_forever, args=(reconciler,), name="ticker", daemon=True).start()


def _reconciler() -> Reconciler:
    if _Holder.reconciler is None:
        raise kopf.PermanentError("the operator was started without a reconciler")
    return _Holder.reconciler


def _safe_reconcile(reconciler: Reconciler, namespace: str, name: str) -> None:
    try:
        reconciler.reconcile(namespace, name)
    except Exception:
        # A failed reconcile (API down, conflict) is retried by the next event or tick.
        log.exception("reconcile of %s/%s failed", namespace, name)
        reconciler.due[(namespace, name)] = time.monotonic() + 5


def _tick_forever(reconciler: Reconciler) -> None:
    while True:
        now = time.monotonic()
        for key, due in list(reconciler.due.items()):
            if due <= now:
                reconciler.due.pop(key, None)
                _safe_reconcile(reconciler, *key)
        time.sleep(0.5)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Kopf's own bookkeeping stays out of our objects; our Events are our own."""
    settings.posting.enabled = False
    # No cluster-wide discovery: the watched namespaces are exact names and the CRD is read
    # once at start, so the operator needs no access to Namespaces or CRDs (helm/kubetrain RBAC).
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30


@kopf.on.event(GROUP, VERSION, PLURAL)
def training_job_event(type: str, namespace: str | None, name: str, **_: Any) -> None:
    """A TrainingJob was created, changed or deleted."""
    reconciler = _reconciler()
    if namespace is None:
        return
    if type == "DELETED":
        reconciler.forget(namespace, name)
        return
    _safe_reconcile(reconciler, namespace, name)


@kopf.on.event("", "v1", "pods", labels={LABEL_JOB: kopf.PRESENT})
def trainer_pod_event(namespace: str | None, labels: Mapping[str, str], **_: Any) -> None:
    """A pod of some TrainingJob changed: reconcile its job."""
    if namespace is not None:
        _safe_reconcile(_reconciler(), namespace, labels[LABEL_JOB])
