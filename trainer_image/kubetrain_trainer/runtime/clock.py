"""Time spent per stage, and the CPU time of the attempt, for metadata.json's durations."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (Ray's local workers among them)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class StageClock:
    """Wall-clock seconds per stage (summed when a stage runs twice), from one start."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.started = time.monotonic()
        self.cpu_started = cpu_seconds()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0) + time.monotonic() - started, 3)

    def wall(self) -> float:
        return time.monotonic() - self.started

    def cpu(self) -> float:
        return cpu_seconds() - self.cpu_started
