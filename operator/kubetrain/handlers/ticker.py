"""Time-driven reconciles: progress polling while running, deadlines, TTL, gang retries.

Watch events cover every change in the API; what changes only with time is due at a moment
the reconciler records in `Reconciler.due`. One daemon thread puts each job whose moment has
come on the work queue (the workers reconcile it), while the API server is away asks it
whether it is back, and once a backlog has drained hands the freed memory back
(`kubetrain.memory`).
"""

from __future__ import annotations

import contextlib
import threading
import time

from kubetrain.handlers.reconcile import Reconciler
from kubetrain.handlers.workqueue import WorkQueue
from kubetrain.kube import REACHABILITY
from kubetrain.memory import trim

TICK_SECONDS = 0.5
PROBE_SECONDS = 1.0
"""How often the API server is asked whether it is back, while it is away."""
TRIM_AFTER = 100
"""A backlog of this many queued jobs is followed by a trim of the heap once it drains."""


def start(reconciler: Reconciler, queue: WorkQueue) -> threading.Thread:
    """Start the ticker thread (a daemon: it ends with the operator)."""
    thread = threading.Thread(
        target=_tick_forever, args=(reconciler, queue), name="ticker", daemon=True
    )
    thread.start()
    return thread


def _tick_forever(reconciler: Reconciler, queue: WorkQueue) -> None:
    last_probe, backlog = 0.0, 0
    while True:
        now = time.monotonic()
        depth = len(queue)
        backlog = max(backlog, depth)
        if depth == 0 and backlog >= TRIM_AFTER:
            backlog = 0
            trim()
        if REACHABILITY.down_since is not None and now - last_probe >= PROBE_SECONDS:
            # Nothing may be due while the API server is away: ask it, so that its return
            # is noticed (and logged) even then.
            last_probe = now
            with contextlib.suppress(Exception):
                reconciler.kube.ping()
        for key, due in list(reconciler.due.items()):
            if due <= now:
                reconciler.due.pop(key, None)
                queue.add(key)
        time.sleep(TICK_SECONDS)
