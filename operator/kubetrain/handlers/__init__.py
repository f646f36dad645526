"""kopf handlers: thin. Each turns a watch event into `Reconciler.reconcile(ns, name)`.

Only `on.event` handlers are used: they keep no per-object state in the API (no progress
annotations, no finalizers), so a job costs no API writes beyond its own status changes.
Time-driven work (progress polling while running, deadlines, TTL, gang retries) is done by the
ticker thread (`handlers.ticker`) that the startup handler starts. Events that cannot change
anything are not reconciled: the echo of the operator's own status write, and an ended pod of
a finished job (docs/benchmarks.md, "Operator at scale").

The handlers find their `Reconciler` in kopf's memo: `kopf.run(memo=operator_memo(r))` puts it
in the operator's memo, and kopf hands every resource handler a shallow copy of that memo.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import kopf

from kubetrain.api import GROUP, PLURAL, VERSION
from kubetrain.builders.naming import LABEL_JOB
from kubetrain.handlers import ticker
from kubetrain.handlers.reconcile import Reconciler
from kubetrain.kube import REACHABILITY

MAX_WORKERS = 16
"""Threads kopf runs the (blocking) handlers in."""


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
    # Handlers block on API calls, not on the CPU: more of them overlap their requests.
    settings.execution.max_workers = MAX_WORKERS
    # kopf gives up on a request after its last backoff (54 s by default) and then stops
    # watching: retry for as long as the API server is away instead.
    settings.networking.error_backoffs = _Backoffs()
    quiet_kopf_retries()
    memo.ticker = ticker.start(_reconciler(memo))


class _Backoffs:
    """1, 1, 2, 3 s, then every 5 s for ever (unsized: kopf then never escalates)."""

    def __iter__(self) -> Iterator[float]:
        return itertools.chain((1, 1, 2, 3), itertools.repeat(5))


class _RetriesToReachability(logging.Filter):
    """kopf logs every retried request as an error, with the request (~1 a second per watch
    while the API server is away), under the logger of whatever made the request. Those go to
    `kube.REACHABILITY`, which says it once, and to the debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf"):
            return True
        message = record.getMessage()
        if not message.startswith("Request attempt"):
            return True
        failed = "failed; will retry" in message or "failed; escalating" in message
        if failed and "TooManyRequests" not in message:  # a busy server does answer
            REACHABILITY.failed(message.split(" -> ", 1)[-1][:200])
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def quiet_kopf_retries() -> None:
    """Route kopf's request retries through `_RetriesToReachability` (see there): a filter on
    the log handlers, since kopf logs them under many loggers."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _RetriesToReachability) for f in handler.filters):
            handler.addFilter(_RetriesToReachability())


@kopf.on.event(GROUP, VERSION, PLURAL)
def training_job_event(
    type: str,
    namespace: str | None,
    name: str,
    body: kopf.Body,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """A TrainingJob was created, changed or deleted (the echo of our own write is no news)."""
    reconciler = _reconciler(memo)
    if namespace is None:
        return
    if type == "DELETED":
        reconciler.forget(namespace, name)
        return
    raw = {key: body[key] for key in body}  # the event's object, read-only
    if not reconciler.is_own_write(namespace, name, raw):
        ticker.safe_reconcile(reconciler, namespace, name, raw)


@kopf.on.event("", "v1", "pods", labels={LABEL_JOB: kopf.PRESENT})
def trainer_pod_event(
    namespace: str | None,
    labels: Mapping[str, str],
    status: Mapping[str, Any],
    meta: Mapping[str, Any],
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """A pod of some TrainingJob changed: reconcile its job. A finished job only stops pods
    that still run, so an ended or departing pod of a finished job is no news."""
    reconciler = _reconciler(memo)
    if namespace is None:
        return
    job = labels[LABEL_JOB]
    active = status.get("phase") in (None, "Pending", "Running")
    if reconciler.finished(namespace, job) and not (active and not meta.get("deletionTimestamp")):
        return
    ticker.safe_reconcile(reconciler, namespace, job)
