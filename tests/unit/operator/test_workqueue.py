"""The work queue: a job is queued once however many events name it, never reconciled in two
threads at once, and reconciled from the newest body an event showed."""

from __future__ import annotations

import threading
import time
from typing import Any

from kubetrain.handlers.workqueue import Work, WorkQueue


def _job(version: int) -> dict[str, Any]:
    return {"metadata": {"name": "a", "resourceVersion": str(version)}}


def test_many_events_for_a_waiting_job_are_one_reconcile_of_its_newest_body() -> None:
    queue = WorkQueue()
    queue.add(("ns", "a"), _job(5))
    queue.add(("ns", "b"))
    queue.add(("ns", "a"), _job(7))
    queue.add(("ns", "a"), _job(6))  # an older event arriving late does not win
    queue.add(("ns", "a"), active_pod=True)  # a pod's event: no body, keeps the job's
    queue.add(("ns", "b"))
    assert len(queue) == 2
    assert queue.get(0) == Work(("ns", "a"), _job(7), active_pod=True)
    assert queue.get(0) == Work(("ns", "b"), None, active_pod=False)
    assert queue.get(0) is None


def test_a_job_named_while_it_is_reconciled_is_queued_again_once_done() -> None:
    queue = WorkQueue()
    queue.add(("ns", "a"))
    assert queue.get(0) == Work(("ns", "a"), None, active_pod=False)
    queue.add(("ns", "a"), _job(9))  # arrives mid-reconcile: not handed to a second thread
    assert queue.get(0) is None
    queue.done(("ns", "a"))
    assert queue.get(0) == Work(("ns", "a"), _job(9), active_pod=False)
    queue.done(("ns", "a"))
    assert queue.get(0) is None


def test_a_deleted_job_is_reconciled_from_a_fresh_read() -> None:
    queue = WorkQueue()
    queue.add(("ns", "a"), _job(3))
    queue.forget(("ns", "a"))
    assert queue.get(0) == Work(("ns", "a"), None, active_pod=False)


def test_no_job_is_ever_in_two_threads_at_once() -> None:
    queue, lock = WorkQueue(), threading.Lock()
    inside: set[tuple[str, str]] = set()
    clashes, done = [], []

    def work() -> None:
        while (item := queue.get(0.5)) is not None:
            key = item.key
            with lock:
                if key in inside:
                    clashes.append(key)
                inside.add(key)
            time.sleep(0.001)
            with lock:
                inside.discard(key)
                done.append(key)
            queue.done(key)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for i in range(2000):
        queue.add(("ns", f"job-{i % 10}"))
    for thread in threads:
        thread.join()
    assert not clashes
    assert {key for key in done} == {("ns", f"job-{i}") for i in range(10)}
    assert len(done) < 2000  # events for a waiting job were one reconcile
