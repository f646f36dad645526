"""Tuning resume: the finished trials of a search, kept in the job's storage across attempts.

Layout under the job's prefix `<output>/<namespace>/<job>/`:

    tuning/<fingerprint>/trials/<key>.json    one finished trial: {"key", "config" (as Tune saw
                                              it), "params", "objective", "epochs", "bestEpoch",
                                              "stoppedEarly", "attempt"}
    tuning/<fingerprint>/best-model.joblib    the model of the best finished trial so far
    tuning/<fingerprint>/best.json            {"key", "objective"} of that model

The driver writes a trial's file when Tune reports it complete (it ran to the end, or the
scheduler stopped it): trials cut short by the time budget, a failure budget or a killed pod are
not written, so a new attempt runs them again. The fingerprint — data hash, model, training and
preparation settings, objective and the search itself (space, algorithm, seed, scheduler) — keeps
a changed job from reusing trials that measured something else; `maxTrials`, `parallelTrials`,
`timeBudgetSeconds` and `maxFailedTrials` are left out, since they bound the search without
changing what a trial measures.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubetrain_trainer.errors import DataError
from kubetrain_trainer.runtime.storage import Storage


class TrialLog:
    """Finished trials of one search; writes go to the job's storage as each trial completes."""

    def __init__(self, storage: Storage, attempt: str, better: Any) -> None:
        self.storage = storage  # <job>/tuning/<fingerprint>
        self.attempt = attempt
        self.better = better  # Objective.better: (a, b) -> a is better than b
        self._best: float | None = None

    def finished(self) -> list[dict[str, Any]]:
        """Every trial a previous attempt (or this one) finished, in key order."""
        records = []
        for name in sorted(self.storage.list("trials/")):
            if not name.endswith(".json"):
                continue
            try:
                records.append(json.loads(self.storage.read_bytes(name)))
            except (ValueError, DataError):
                continue  # unreadable: that trial runs again
        return records

    def record(self, trial: dict[str, Any], model: Callable[[], Any] | None = None) -> None:
        """Persist one finished trial and, when it is the best so far, its model (`model()`
        loads it from the trial's checkpoint, only then)."""
        self.storage.write_bytes(
            f"trials/{trial['key']}.json", json.dumps({**trial, "attempt": self.attempt}).encode()
        )
        value = trial.get("objective")
        if model is None or value is None:
            return
        best = self._best_value()
        if best is None or self.better(value, best):
            import joblib

            # The model first, then the pointer: a reader never follows best.json to a model
            # that belongs to another trial.
            with tempfile.TemporaryDirectory(prefix="kubetrain-trial-") as tmp:
                local = Path(tmp) / "model.joblib"
                joblib.dump(model(), local)
                self.storage.upload_file("best-model.joblib", local)
            self.storage.write_bytes(
                "best.json", json.dumps({"key": trial["key"], "objective": value}).encode()
            )
            self._best = value

    def best_model(self, key: str) -> Any:
        """The saved model of trial `key`, or None when another trial's (or none) is saved."""
        pointer = self._pointer()
        if pointer is None or pointer.get("key") != key:
            return None
        import joblib

        with tempfile.TemporaryDirectory(prefix="kubetrain-trial-") as tmp:
            local = Path(tmp) / "model.joblib"
            self.storage.download_file("best-model.joblib", local)
            return joblib.load(local)

    def _best_value(self) -> float | None:
        if self._best is None:
            pointer = self._pointer()
            self._best = None if pointer is None else pointer.get("objective")
        return self._best

    def _pointer(self) -> dict[str, Any] | None:
        if not self.storage.exists("best.json"):
            return None
        try:
            pointer = json.loads(self.storage.read_bytes("best.json"))
        except (ValueError, DataError):
            return None
        return pointer if isinstance(pointer, dict) else None
