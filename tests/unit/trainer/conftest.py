"""Fixtures of the trainer's unit tests (their helpers are in tests/support/trainer.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def _tests_travel_by_value() -> None:
    """Ray's processes cannot import these test modules (pytest imports them by path), so what
    they define and Ray ships — a test's StopSignal, say — is pickled by value."""
    import sys

    from ray import cloudpickle

    here = str(Path(__file__).parent)
    for module in list(sys.modules.values()):
        if str(getattr(module, "__file__", "") or "").startswith(here):
            # ray.cloudpickle is untyped.
            cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One small local Ray for every test that needs it (startup costs ~20 s here)."""
    import ray

    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    _tests_travel_by_value()
    yield
    ray.shutdown()
