"""Time-driven reconciles: progress polling while running, deadlines, TTL, gang retries.

Watch events cover every change in the API; what changes only with time is due at a moment
the reconciler records in `Reconciler.due`. One daemon thread reconciles each job whose
moment has come. A reconcile that fails (API down, conflict) is logged and tried again soon,
by the next event or tick: it never stops the operator. While the API server is unreachable
the failures are logged at debug level: `kube.REACHABILITY` says once that it is away.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from kubetrain.handlers.reconcile import Reconciler
from kubetrain.kube import REACHABILITY, Unreachable

log = logging.getLogger("kubetrain.handlers")
TICK_SECONDS = 0.5
PROBE_SECONDS = 1.0
"""How often the API server is asked whether it is back, while it is away."""
RETRY_SECONDS = 5.0
"""A failed reconcile is tried again after this long if no event comes first."""


def safe_reconcile(
    reconciler: Reconciler, namespace: str, name: str, body: dict[str, Any] | None = None
) -> None:
    """Reconcile one job; on failure log it and make it due again in `RETRY_SECONDS`."""
    try:
        reconciler.reconcile(namespace, name, body)
    except Unreachable as exc:
        log.debug("reconcile of %s/%s waits for the API server: %s", namespace, name, exc)
        reconciler.due[(namespace, name)] = time.monotonic() + RETRY_SECONDS
    except Exception:
        log.exception("reconcile of %s/%s failed", namespace, name)
        reconciler.due[(namespace, name)] = time.monotonic() + RETRY_SECONDS


def start(reconciler: Reconciler) -> threading.Thread:
    """Start the ticker thread (a daemon: it ends with the operator)."""
    thread = threading.Thread(target=_tick_forever, args=(reconciler,), name="ticker", daemon=True)
    thread.start()
    return thread


def _tick_forever(reconciler: Reconciler) -> None:
    last_probe = 0.0
    while True:
        now = time.monotonic()
        if REACHABILITY.down_since is not None and now - last_probe >= PROBE_SECONDS:
            # Nothing may be due while the API server is away: ask it, so that its return
            # is noticed (and logged) even then.
            last_probe = now
            with contextlib.suppress(Exception):
                reconciler.kube.ping()
        for key, due in list(reconciler.due.items()):
            if due <= now:
                reconciler.due.pop(key, None)
                safe_reconcile(reconciler, *key)
        time.sleep(TICK_SECONDS)
