"""Checkpoints: periodic saves to the attempt's prefix, resume across attempts, SIGTERM.

Layout under the job's prefix `<output>/<namespace>/<job>/`:

    <attempt>/checkpoints/epoch-000012.pt   torch.save'd training state
    <attempt>/checkpoints/latest.json       {"name", "epoch", "fingerprint", "attempt"}
    <attempt>/checkpoints/fitted-model.joblib   a fitted scikit-learn model (TrainedModel)
    <attempt>/checkpoints/fitted.json       {"name", "fingerprint", "dataHash", "attempt"}

`latest.json` is written after the checkpoint it names, so a reader never follows it to half a
file. A new attempt calls `CheckpointStore.latest()`, which looks through every attempt of the job
(the newest first) and returns the last state whose fingerprint — data hash plus the settings
that shape the model — matches; a checkpoint from a different model or data is ignored rather
than loaded into the wrong network. A scikit-learn fit has no epochs to resume; its fitted model
is saved once, and `fitted_model()` hands it to a new attempt (one that failed later, say while
uploading artifacts) when both the fingerprint and the data hash match, so the fit is not redone.

`StopSignal` turns SIGTERM into a flag the training loop polls between batches; the loop then
saves a checkpoint and raises `Interrupted` (exit code 143). Ray Train ranks and Tune trials run
in other processes and on other pods, so the flag is mirrored to a file on this pod and to the
marker `<attempt>/stop` in the store, which every pod of the attempt can see.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubetrain.api.contract import Files
from kubetrain_trainer.errors import DataError, TrainerError
from kubetrain_trainer.runtime.storage import Storage


@dataclass(frozen=True)
class CheckpointPolicy:
    every_epochs: int | None = 1
    every_seconds: float | None = None

    def due(self, epoch: int, last_saved_at: float) -> bool:
        if self.every_epochs and epoch % self.every_epochs == 0:
            return True
        return bool(self.every_seconds and time.monotonic() - last_saved_at >= self.every_seconds)


def _attempt_order(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else -1, name)


class CheckpointStore:
    """Checkpoints of one job; writes go to the current attempt, reads search all attempts."""

    def __init__(
        self,
        job: Storage,
        attempt: str,
        fingerprint: str,
        policy: CheckpointPolicy | None = None,
        keep: int = 2,
        data_hash: str | None = None,
    ) -> None:
        self.keep = keep
        self.data_hash = data_hash
        self.job = job
        self.attempt = attempt
        self.fingerprint = fingerprint
        self.policy = policy or CheckpointPolicy()
        self.last_saved_at = time.monotonic()
        self.saved: list[str] = []

    def save(self, state: dict[str, Any], epoch: int) -> str:
        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        name = f"{self.attempt}/checkpoints/epoch-{epoch:06d}.pt"
        self.job.write_bytes(name, buf.getvalue())
        pointer = {
            "name": name,
            "epoch": epoch,
            "fingerprint": self.fingerprint,
            "attempt": self.attempt,
            "savedAt": time.time(),
        }
        self.job.write_bytes(
            f"{self.attempt}/checkpoints/latest.json", json.dumps(pointer).encode()
        )
        self.last_saved_at = time.monotonic()
        self.saved.append(name)
        for old in self.saved[: -self.keep]:
            self.job.delete(old)
        self.saved = self.saved[-self.keep :]
        return name

    def maybe_save(self, state_fn: Any, epoch: int) -> str | None:
        if self.policy.due(epoch, self.last_saved_at):
            return self.save(state_fn(), epoch)
        return None

    def latest(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(state, pointer) of the newest matching checkpoint of any attempt, or None."""
        import torch

        candidates = [
            p
            for p in self._pointers("/checkpoints/latest.json")
            if p.get("fingerprint") == self.fingerprint
        ]
        if not candidates:
            return None
        best = max(candidates, key=lambda p: (_attempt_order(str(p["attempt"])), int(p["epoch"])))
        with tempfile.TemporaryDirectory(prefix="kubetrain-ckpt-") as tmp:
            local = Path(tmp) / "checkpoint.pt"
            self.job.download_file(best["name"], local)
            state = torch.load(local, map_location="cpu", weights_only=False)
        return state, best

    def save_fitted(self, model: Any) -> str:
        """Save a fitted (scikit-learn) model for later attempts; the pointer goes last."""
        import joblib

        name = f"{self.attempt}/checkpoints/fitted-model.joblib"
        with tempfile.TemporaryDirectory(prefix="kubetrain-ckpt-") as tmp:
            local = Path(tmp) / "model.joblib"
            joblib.dump(model, local)
            self.job.upload_file(name, local)
        pointer = {
            "name": name,
            "fingerprint": self.fingerprint,
            "dataHash": self.data_hash,
            "attempt": self.attempt,
            "savedAt": time.time(),
        }
        self.job.write_bytes(
            f"{self.attempt}/checkpoints/fitted.json", json.dumps(pointer).encode()
        )
        self.saved.append(name)
        return name

    def fitted_model(self) -> tuple[Any, dict[str, Any]] | None:
        """(model, pointer) of the newest fitted model of any attempt whose fingerprint and data
        hash both match this job's, or None."""
        import joblib

        candidates = [
            p
            for p in self._pointers("/checkpoints/fitted.json")
            if p.get("fingerprint") == self.fingerprint
            and self.data_hash is not None
            and p.get("dataHash") == self.data_hash
        ]
        if not candidates:
            return None
        best = max(candidates, key=lambda p: _attempt_order(str(p["attempt"])))
        with tempfile.TemporaryDirectory(prefix="kubetrain-ckpt-") as tmp:
            local = Path(tmp) / "model.joblib"
            self.job.download_file(best["name"], local)
            return joblib.load(local), best

    def _pointers(self, suffix: str) -> list[dict[str, Any]]:
        pointers = []
        for name in self.job.list(""):
            if not name.endswith(suffix):
                continue
            try:
                pointers.append(json.loads(self.job.read_bytes(name)))
            except (ValueError, OSError, DataError):
                continue
        return pointers


class StopSignal:
    """SIGTERM → a stop request that every training loop of the attempt polls.

    Three ways the request travels: a flag (this process), a file (`flag_file`, for Ray
    processes on the same pod) and a marker object `Files.STOP` in the attempt's prefix
    (`marker`, for ranks and trials on the other pods of a Ray cluster). Whichever pod got the
    SIGTERM writes the marker (the driver from here, a worker pod through
    `python -m kubetrain_trainer.stop`); `requested()` looks for it at most once every
    `interval` seconds, so polling between batches stays cheap.
    """

    def __init__(
        self, flag_file: Path | None = None, marker: Storage | None = None, interval: float = 1.0
    ) -> None:
        self.flag_file = flag_file
        self.marker = marker
        self.interval = interval
        self._requested = False
        self._checked_at = -math.inf
        self._installed = False

    def install(self) -> StopSignal:
        signal.signal(signal.SIGTERM, self._handle)
        self._installed = True
        return self

    def reclaim(self) -> None:
        """Take SIGTERM back after `ray.init`, which replaces the driver's handler with one that
        exits at once (ray-project/ray#26729), so the ranks would never hear of it."""
        if self._installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._handle)

    def watch(self, marker: Storage | None) -> StopSignal:
        """Share requests through `marker` (the attempt's storage) from now on."""
        if marker is None:
            return self
        self.marker = marker
        if self._requested:
            self.announce()
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.request()
        if self.marker is not None:
            # Not in the handler itself: it may have interrupted a call on the same client.
            threading.Thread(target=self.announce, name="kubetrain-stop", daemon=True).start()

    def request(self) -> None:
        self._requested = True
        if self.flag_file is not None:
            self.flag_file.parent.mkdir(parents=True, exist_ok=True)
            self.flag_file.touch()

    def announce(self) -> bool:
        """Write the stop marker for the ranks on other pods; False when it could not be."""
        if self.marker is None:
            return False
        payload = {"time": time.time(), "host": socket.gethostname()}
        try:
            self.marker.write_bytes(Files.STOP, json.dumps(payload).encode())
        except (TrainerError, OSError) as exc:
            print(f"kubetrain: cannot write the stop marker: {exc}", file=sys.stderr)
            return False
        return True

    def requested(self) -> bool:
        if self._requested or bool(self.flag_file and self.flag_file.exists()):
            return True
        now = time.monotonic()
        if self.marker is not None and now - self._checked_at >= self.interval:
            self._checked_at = now
            with contextlib.suppress(TrainerError, OSError):
                self._requested = self.marker.exists(Files.STOP)
        return self._requested

    def __getstate__(self) -> dict[str, Any]:
        # Subclasses (tests) keep their own attributes; a copy starts with its own state.
        private = ("_requested", "_checked_at", "_installed")
        return {k: v for k, v in self.__dict__.items() if k not in private}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._requested = False
        self._checked_at = -math.inf
        self._installed = False
