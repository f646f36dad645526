"""kopf handlers: thin. Each turns a watch event into a job's key on the work queue.

Only `on.event` handlers are used: they keep no per-object state in the API (no progress
annotations, no finalizers), so a job costs no API writes beyond its own status changes. They
are coroutines that only add a key to `handlers.workqueue` and return, so kopf never holds a
backlog of events behind busy handlers; `MAX_WORKERS` threads (`handlers.workers`) reconcile
the queued jobs, each job once however many events named it. Time-driven work (progress
polling while running, deadlines, TTL, gang retries) is queued by the ticker thread
(`handlers.ticker`). Events that cannot change anything are not queued: the echo of the
operator's own status write, and an ended pod of a finished job (docs/benchmarks.md,
"Operator at scale"). The startup handler starts the threads.

The handlers find the `Reconciler` and the queue in kopf's memo: `kopf.run(memo=operator_memo(r))`
puts them in the operator's memo, and kopf hands every resource handler a shallow copy of it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import kopf

from kubetrain.api import GROUP, PLURAL, VERSION
from kubetrain.builders.naming import LABEL_JOB
from kubetrain.handlers import ticker, workers
from kubetrain.handlers.reconcile import Reconciler
from kubetrain.handlers.workqueue import WorkQueue
from kubetrain.kube import REACHABILITY
from kubetrain.metrics import QUEUE_DEPTH

MAX_WORKERS = 16
"""Threads that reconcile: reconciles block on API calls, so more of them overlap requests."""
LIST_CHUNK = 500
"""Objects per page of kopf's initial listing."""


def operator_memo(reconciler: Reconciler) -> kopf.Memo:
    """The memo to start kopf with: it carries the reconciler and the work queue to every
    handler."""
    return kopf.Memo(reconciler=reconciler, queue=WorkQueue())


def _reconciler(memo: kopf.Memo) -> Reconciler:
    reconciler = memo.get("reconciler")
    if not isinstance(reconciler, Reconciler):
        raise kopf.PermanentError("the operator was started without a reconciler in its memo")
    return reconciler


def _queue(memo: kopf.Memo) -> WorkQueue:
    queue = memo.get("queue")
    if not isinstance(queue, WorkQueue):
        raise kopf.PermanentError("the operator was started without a work queue in its memo")
    return queue


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
    # The start lists every job and pod: in pages, not one response; and kopf's per-object
    # worker (which keeps its last event while it idles) ends 1 s after its last event, not 5.
    settings.watching.chunk_size = LIST_CHUNK
    settings.queueing.idle_timeout = 1.0
    # kopf gives up on a request after its last backoff (54 s by default) and then stops
    # watching: retry for as long as the API server is away instead.
    settings.networking.error_backoffs = _Backoffs()
    quiet_kopf_retries()
    reconciler, queue = _reconciler(memo), _queue(memo)
    QUEUE_DEPTH.set_function(queue.__len__)
    memo.workers = workers.start(reconciler, queue, MAX_WORKERS)
    memo.ticker = ticker.start(reconciler, queue)


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
async def training_job_event(
    type: str,
    namespace: str | None,
    name: str,
    body: kopf.Body,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """A TrainingJob was created, changed or deleted (the echo of our own write is no news)."""
    reconciler, queue = _reconciler(memo), _queue(memo)
    if namespace is None:
        return
    if type == "DELETED":
        reconciler.forget(namespace, name)
        queue.forget((namespace, name))
        return
    raw = job_body(body)
    if not reconciler.is_own_write(namespace, name, raw):
        queue.add((namespace, name), raw)


def job_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The event's object as the reconciler reads it (read-only): without the field managers'
    bookkeeping, which nothing here reads and which would be most of what a queued job holds."""
    raw = {key: body[key] for key in body}
    raw["metadata"] = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return raw


@kopf.on.event("", "v1", "pods", labels={LABEL_JOB: kopf.PRESENT})
async def trainer_pod_event(
    namespace: str | None,
    labels: Mapping[str, str],
    status: Mapping[str, Any],
    meta: Mapping[str, Any],
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """A pod of some TrainingJob changed: reconcile its job. A finished job only stops pods
    that still run, so an ended or departing pod of a finished job is no news; nor is it of a
    job this operator has not reconciled yet (after a restart), whose own event is coming."""
    reconciler = _reconciler(memo)
    if namespace is None:
        return
    job = labels[LABEL_JOB]
    active = status.get("phase") in (None, "Pending", "Running") and not meta.get(
        "deletionTimestamp"
    )
    if not active and not reconciler.unfinished(namespace, job):
        return
    _queue(memo).add((namespace, job), active_pod=active)
