"""Time-driven reconciles: progress polling while running, deadlines, TTL, gang retries.

Watch events cover every change in the API; what changes only with time is due at a moment
the reconciler records in `Reconciler.due`. One daemon thread reconciles each job whose
moment has come. A reconcile that fails (API down, conflict) is logged and tried again soon,
by the next event or tick: it never stops the operator.
"""

from __future__ import annotations

import logging
import threading
import time

from kubetrain.handlers.reconcile import Reconciler

log = logging.getLogger("kubetrain.handlers")
TICK_SECONDS = 0.5
RETRY_SECONDS = 5.0
"""A failed reconcile is tried again after this long if no event comes first."""


def safe_reconcile(reconciler: Reconciler, namespace: str, name: str) -> None:
    """Reconcile one job; on failure log it and make it due again in `RETRY_SECONDS`."""
    try:
        reconciler.reconcile(namespace, name)
    except Exception:
        log.exception("reconcile of %s/%s failed", namespace, name)
        reconciler.due[(namespace, name)] = time.monotonic() + RETRY_SECONDS


def start(reconciler: Reconciler) -> threading.Thread:
    """Start the ticker thread (a daemon: it ends with the operator)."""
    thread = threading.Thread(target=_tick_forever, args=(reconciler,), name="ticker", daemon=True)
    thread.start()
    return thread


def _tick_forever(reconciler: Reconciler) -> None:
    while True:
        now = time.monotonic()
        for key, due in list(reconciler.due.items()):
            if due <= now:
                reconciler.due.pop(key, None)
                safe_reconcile(reconciler, *key)
        time.sleep(TICK_SECONDS)
