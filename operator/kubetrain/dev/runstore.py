"""The local S3 store of `kubetrain run`: one SeaweedFS per user, kept running between runs.

Starting SeaweedFS takes 3 to 4 s and a graceful stop over 5 s, longer than the quickstart's own
training: so the first `kubetrain run` starts the store in the background (while Python imports
the trainer) and leaves it running, and later runs reuse it at no cost. `kubetrain store stop`
stops it, `kubetrain store status` says where it is. Everything lives under
`$XDG_STATE_HOME/kubetrain/run/` (default `~/.local/state/kubetrain/run/`): the data, the
credentials (`identities.json`, mode 0600), the endpoint (`store.json`), pid file and log.

A lock file serialises starts, so two runs begun together share one store.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kubetrain.dev import binaries, s3
from kubetrain.dev.processes import Supervisor, wait_until

COMPONENT = "kubetrain-run-seaweedfs"
BUCKET = "kubetrain-run"
# SeaweedFS acknowledges a write once it is in its files, so with no run in flight a kill loses
# nothing; a graceful stop hangs in gRPC's drain for the whole grace period.
STOP_GRACE_SECONDS = 1.0


def state_root() -> Path:
    """`$XDG_STATE_HOME/kubetrain/run`, read when called (tests point it elsewhere)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubetrain" / "run"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((s3.HOST, port))
        except OSError:
            return False
        return True


def _free_ports(count: int) -> list[int]:
    """Random free ports whose gRPC twins (port + GRPC_OFFSET) are free and valid too."""
    taken: set[int] = set()
    while len(taken) < count:
        port = random.randrange(20000, 65535 - s3.GRPC_OFFSET)
        if port not in taken and _free(port) and _free(port + s3.GRPC_OFFSET):
            taken.add(port)
    return sorted(taken)


@dataclass(frozen=True)
class RunStore:
    """The user's `kubetrain run` store under `root`."""

    root: Path

    @classmethod
    def default(cls) -> RunStore:
        return cls(state_root())

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.root / "pids", self.root / "logs")

    @property
    def data_dir(self) -> Path:
        return self.root / "seaweedfs"

    @property
    def credentials_file(self) -> Path:
        return self.root / "identities.json"

    @property
    def endpoint_file(self) -> Path:
        return self.root / "store.json"

    @property
    def log(self) -> Path:
        return self.supervisor.log_path(COMPONENT)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "store.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def running(self) -> s3.S3Endpoint | None:
        """The endpoint of the store if its process runs (it may still be starting)."""
        if self.supervisor.get(COMPONENT) is None:
            return None
        try:
            return s3.S3Endpoint(**json.loads(self.endpoint_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def launch(self) -> tuple[s3.S3Endpoint, bool]:
        """The running store's endpoint, or a new store started in the background; and
        whether it was started now. Returns at once: `wait` waits for it to answer."""
        with self._locked():
            endpoint = self.running()
            if endpoint is not None:
                return endpoint, False
            self.supervisor.stop(COMPONENT, grace=STOP_GRACE_SECONDS)  # one without store.json
            ports = s3.S3Ports(*_free_ports(4))
            endpoint = s3.launch(
                self.supervisor, binaries.weed(), self.data_dir, self.credentials_file,
                ports, BUCKET, component=COMPONENT,
            )  # fmt: skip
            self.endpoint_file.write_text(json.dumps(endpoint.as_dict()))
            self.endpoint_file.chmod(0o600)
            return endpoint, True

    def wait(self, endpoint: s3.S3Endpoint, started: bool, timeout: float = 90) -> None:
        """Wait until the store answers; a store started now also gets its bucket (one that
        ran already has it: checking would cost an S3 client and a request)."""
        if started:
            s3.wait_ready(self.supervisor, endpoint, COMPONENT, timeout)
        else:
            wait_until(
                lambda: s3.port_open(s3.port_of(endpoint)), timeout, "the S3 endpoint",
                supervisor=self.supervisor, component=COMPONENT,
            )  # fmt: skip

    def stop(self) -> bool:
        """Stop the store if it runs; its data stays for the next start."""
        with self._locked():
            self.endpoint_file.unlink(missing_ok=True)
            return s3.stop(self.supervisor, component=COMPONENT, grace=STOP_GRACE_SECONDS)
