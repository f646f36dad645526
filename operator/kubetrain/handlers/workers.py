"""The threads that reconcile: each takes a job's key off the work queue and reconciles it.

A reconcile that fails (API down, conflict) is logged and made due again soon (the ticker puts
it back on the queue, unless an event does first): it never stops the operator. While the API
server is unreachable the failures are logged at debug level: `kube.REACHABILITY` says once
that it is away.
"""

from __future__ import annotations

import logging
import threading
import time

from kubetrain.handlers.reconcile import Reconciler
from kubetrain.handlers.workqueue import Work, WorkQueue
from kubetrain.kube import Unreachable

log = logging.getLogger("kubetrain.handlers")
RETRY_SECONDS = 5.0
"""A failed reconcile is tried again after this long if no event comes first."""


def safe_reconcile(reconciler: Reconciler, work: Work) -> None:
    """Reconcile one job; on failure log it and make it due again in `RETRY_SECONDS`."""
    namespace, name = work.key
    try:
        reconciler.reconcile(namespace, name, work.body, active_pod=work.active_pod)
    except Unreachable as exc:
        log.debug("reconcile of %s/%s waits for the API server: %s", namespace, name, exc)
        reconciler.due[(namespace, name)] = time.monotonic() + RETRY_SECONDS
    except Exception:
        log.exception("reconcile of %s/%s failed", namespace, name)
        reconciler.due[(namespace, name)] = time.monotonic() + RETRY_SECONDS


def start(reconciler: Reconciler, queue: WorkQueue, count: int) -> list[threading.Thread]:
    """Start `count` worker threads (daemons: they end with the operator)."""
    threads = [
        threading.Thread(
            target=_work_forever, args=(reconciler, queue), name=f"reconcile-{i}", daemon=True
        )
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def _work_forever(reconciler: Reconciler, queue: WorkQueue) -> None:
    while True:
        work = queue.get()
        if work is None:
            continue
        try:
            safe_reconcile(reconciler, work)
        finally:
            queue.done(work.key)
