"""Progress: where the operator (and `kubetrain run`) see how far training got.

Every update is written twice:
- one JSON line on stdout, `{"kubetrain": "progress", ...}`, for `kubectl logs` and for any log
  pipeline;
- `progress.json` under the attempt's prefix (S3 or a directory), overwritten at most every
  `min_interval` seconds and always at stage changes and at the end.

Why not PATCH the TrainingJob status from the pod: that needs a service-account token with write
rights on the custom resource mounted into a container that runs user code (bring-your-own
images, arbitrary pip packages). With this design the trainer pod needs no Kubernetes API rights
at all (`automountServiceAccountToken: false`); the operator, which already holds the S3
credentials it hands to the pod, reads `progress.json` when it reconciles and copies it into
`status.progress`. Stdout stays as a fallback the operator can read through `pods/log`.

Fields (camelCase, all optional except `stage` and `time`), shaped after the API's
`status.progress` and `status.bestMetric`: stage (data, preparation, tuning, training,
evaluation, artifacts, done), completed, total, unit (epochs | trials | folds), summary
("7/10 epochs"), percent, bestMetric {name, value}, message, attempt, health [{reason,
message}]: the file is `kubetrain.api.contract.ProgressFile`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO, cast

from kubetrain.api.contract import Files
from kubetrain_trainer.runtime.storage import Storage

PROGRESS_FILE = Files.PROGRESS
HEADLINE_FIELDS = ("completed", "total", "unit", "summary", "percent")
STAGES = (
    "starting",
    "data",
    "preparation",
    "tuning",
    "training",
    "evaluation",
    "artifacts",
    "done",
)


class ProgressReporter:
    def __init__(
        self,
        storage: Storage | None,
        *,
        attempt: str = "",
        min_interval: float = 5.0,
        stream: TextIO | None = None,
        echo: bool = True,
    ) -> None:
        self.storage = storage
        self.attempt = attempt
        self.min_interval = min_interval
        self.stream = stream
        self.echo = echo
        self.state: dict[str, Any] = {"stage": "starting"}
        self._last_write = 0.0
        self._headline: dict[str, dict[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["stream"] = None  # streams do not cross process boundaries; workers use stdout
        return state

    def update(
        self,
        stage: str | None = None,
        *,
        completed: int | None = None,
        total: int | None = None,
        unit: str | None = None,
        best: tuple[str, float | None] | None = None,
        message: str | None = None,
        health: list[dict[str, str]] | None = None,
        force: bool = False,
    ) -> None:
        changed_stage = stage is not None and stage != self.state.get("stage")
        if changed_stage:
            self.state = {"stage": stage}  # a new stage starts with a clean slate of counters
            if stage == "done":  # the job's headline: its trials if it tuned, else its epochs
                headline = self._headline.get("tuning") or self._headline.get("training")
                self.state.update(headline or {})
        for key, value in (("completed", completed), ("total", total), ("unit", unit),
                           ("message", message)):  # fmt: skip
            if value is not None:
                self.state[key] = value
        if health:
            self.state["health"] = health
        if best is not None and best[1] is not None:
            self.state["bestMetric"] = {"name": best[0], "value": round(float(best[1]), 6)}
        if self.state.get("total"):
            done, of = self.state.get("completed", 0), self.state["total"]
            self.state["percent"] = round(100 * done / of, 1)
            self.state["summary"] = f"{done}/{of} {self.state.get('unit', '')}".strip()
        if self.state.get("total") and self.state["stage"] in ("tuning", "training"):
            self._headline[self.state["stage"]] = {
                k: self.state[k] for k in HEADLINE_FIELDS if k in self.state
            }
        self.state["time"] = round(time.time(), 3)
        if self.attempt:
            self.state["attempt"] = self.attempt
        if self.echo:
            print(
                json.dumps({"kubetrain": "progress", **self.state}),
                file=self.stream or sys.stdout,
                flush=True,
            )
        now = time.monotonic()
        if self.storage is not None and (
            force or changed_stage or now - self._last_write >= self.min_interval
        ):
            self.storage.write_bytes(PROGRESS_FILE, json.dumps(self.state).encode())
            self._last_write = now


def read_progress(storage: Storage) -> dict[str, Any] | None:
    """What the operator (or `kubetrain run`) calls to show progress."""
    try:
        return cast("dict[str, Any] | None", json.loads(storage.read_bytes(PROGRESS_FILE)))
    except Exception:
        return None
