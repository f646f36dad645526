"""The work queue between the watch events and the reconciles (controller-runtime's design).

A watch event only *names* a job that needs reconciling: the kopf handlers add the job's key
here and return at once, and the worker threads (`handlers.workers`) take keys off the queue
and reconcile them. A key is at most once in the queue, however many events name it while it
waits, and never in two threads at once: an event for a job that is being reconciled marks it
to be taken again afterwards. So a burst of events costs one reconcile per job that changed,
not one per event, and what waits is a key (and the newest body of the job, when an event
carried one), not kopf's queue of every event's full object behind busy handler threads.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, NamedTuple

from kubetrain.handlers.reconcile import resource_version

Key = tuple[str, str]
"""(namespace, name) of a TrainingJob."""


class Work(NamedTuple):
    """A job to reconcile, with what the events that named it showed."""

    key: Key
    body: dict[str, Any] | None
    """The newest job an event carried (None: the reconcile reads it)."""
    active_pod: bool
    """An event showed a pod of it still active (a finished job's pods need a look)."""


class WorkQueue:
    """Keys waiting to be reconciled, each once, in the order they first came."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._order: deque[Key] = deque()
        self._queued: set[Key] = set()
        self._processing: set[Key] = set()
        self._dirty: set[Key] = set()
        """Being processed, and named again since: queued again when done."""
        self._bodies: dict[Key, dict[str, Any]] = {}
        """The newest job body an event carried for a queued key (saves the reconcile a GET)."""
        self._active_pod: set[Key] = set()

    def add(
        self, key: Key, body: dict[str, Any] | None = None, *, active_pod: bool = False
    ) -> None:
        """Reconcile `key` (soon); `body` is the job as an event showed it, if one did;
        `active_pod`: the event was of a pod of it that is still active."""
        with self._cond:
            if body is not None and _newer(body, self._bodies.get(key)):
                self._bodies[key] = body
            if active_pod:
                self._active_pod.add(key)
            self._enqueue(key)

    def forget(self, key: Key) -> None:
        """The job was deleted: a body kept for it is no longer the truth (a queued key is
        then reconciled from a fresh read, which finds it gone)."""
        with self._cond:
            self._bodies.pop(key, None)

    def get(self, timeout: float | None = None) -> Work | None:
        """The next job to reconcile; None if none came in `timeout` s. The caller owns its
        key until it calls `done(key)`."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._order), timeout):
                return None
            key = self._order.popleft()
            self._queued.discard(key)
            self._processing.add(key)
            active_pod = key in self._active_pod
            self._active_pod.discard(key)
            return Work(key, self._bodies.pop(key, None), active_pod)

    def done(self, key: Key) -> None:
        """The reconcile of `key` ended; if it was named meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._enqueue(key)

    def __len__(self) -> int:
        with self._cond:
            return len(self._order)

    def _enqueue(self, key: Key) -> None:
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._order.append(key)
            self._cond.notify()


def _newer(body: dict[str, Any], than: dict[str, Any] | None) -> bool:
    if than is None:
        return True
    new, old = resource_version(body), resource_version(than)
    return new is None or old is None or new >= old
