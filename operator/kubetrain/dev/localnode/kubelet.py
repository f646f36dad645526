"""The `local` node's kubelet: pods bound to it really run as processes on this machine.

The kubelet composes four parts, each in its own module:

- `node`: registers the Node and keeps it Ready (the Lease heartbeat);
- `watches`: two threads keep a `ClusterView` of the node's pods and the cluster's Services;
- `lifecycle`: one pod's life: admission, containers started, reaped and restarted with
  back-off, status written as a kubelet would, deletion with SIGTERM, grace, SIGKILL;
- `hosts`: the pods' private hosts files, in place of cluster DNS.

`Kubelet.sync` is the one loop: it takes the latest pods from the view, admits the new ones,
drives each through its lifecycle and rewrites the hosts files when something moved. Watch
threads only hand objects to the loop; all pod state is owned by the loop's thread.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import threading
import time
from typing import Any

from kubernetes import client

from kubetrain.dev.localnode import logserver
from kubetrain.dev.localnode.hosts import write_hosts
from kubetrain.dev.localnode.lifecycle import FINISHED_PHASES, PodRunner, PodRuntime, pod_dir
from kubetrain.dev.localnode.node import Heartbeat, NodeSettings, now_iso, register
from kubetrain.dev.localnode.podspec import PodConfigError
from kubetrain.dev.localnode.watches import ClusterView, Watches
from kubetrain.dev.processes import terminate

# The names other modules and older pickles knew in this module.
__all__ = ["Kubelet", "NodeSettings", "PodRuntime", "now_iso", "pod_dir"]

log = logging.getLogger("kubetrain.localnode")
SYNC_SECONDS = 0.5
SHUTDOWN_GRACE_SECONDS = 10.0


class Kubelet:
    """Runs the pods bound to one node. `run()` blocks until SIGTERM/SIGINT."""

    def __init__(self, api: client.ApiClient, settings: NodeSettings) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.settings = settings
        self.stopping = threading.Event()
        self.view = ClusterView()
        self.runner = PodRunner(self.core, settings)

    def run(self) -> None:
        self._cleanup_leftovers()
        self.settings.pods_dir.mkdir(parents=True, exist_ok=True)
        register(self.core, self.settings)
        s = self.settings
        logserver.serve(
            s.state_dir,
            s.kubelet_port,
            s.serving_cert,
            s.serving_key,
            s.client_ca,
            self.stopping.is_set,
        )
        heartbeat = Heartbeat(self.api, s, self.stopping)
        threading.Thread(target=heartbeat.run, name="heartbeat", daemon=True).start()
        Watches(self.api, s.name, self.view, self.stopping).start()

        def stop(_signum: int, _frame: object) -> None:
            self.stopping.set()
            self.view.wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping.is_set():
            try:
                self.sync()
            except Exception:
                log.exception("sync failed")
            self.view.wake.wait(SYNC_SECONDS)
            self.view.wake.clear()
        self.shutdown()

    def sync(self) -> None:
        """One pass of the loop over every pod bound to the node."""
        with self.view.lock:
            desired = dict(self.view.pods)
        for uid, pod in desired.items():
            rt = self.runner.pods.get(uid)
            if rt is None:
                rt = self._admit(uid, pod)
            if rt is not None:
                rt.pod = pod
        for uid, rt in list(self.runner.pods.items()):
            try:
                self._sync_pod(uid, rt, desired)
            except Exception:  # one broken pod must not stall every other pod of the node
                log.exception("sync of %s failed", rt.key)
        self._write_hosts_if_dirty()

    def _admit(self, uid: str, pod: dict[str, Any]) -> PodRuntime | None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in (
            FINISHED_PHASES
        ):
            # Finished or deleted before we ran it (e.g. across a node restart):
            # nothing runs, so a deleted one only needs its final removal.
            if meta.get("deletionTimestamp"):
                self.runner.remove_pod_object(meta["namespace"], meta["name"], uid)
            return None
        try:
            return self.runner.admit(pod)
        except PodConfigError as exc:
            log.warning("cannot admit %s: %s", meta["name"], exc)
            return None

    def _sync_pod(self, uid: str, rt: PodRuntime, desired: dict[str, dict[str, Any]]) -> None:
        if uid not in desired:
            self.runner.forget(rt)
            return
        if rt.pod["metadata"].get("deletionTimestamp"):
            if self.runner.handle_deletion(rt):
                self.runner.forget(rt)
            return
        self.runner.reap(rt)
        # Before a container starts, its hosts file names the pods that run by now.
        self._write_hosts_if_dirty()
        self.runner.start_due(rt)
        self.runner.push_status(rt)

    def _write_hosts_if_dirty(self) -> None:
        if not (self.runner.hosts_dirty or self.view.services_changed):
            return
        with self.view.lock:
            services = list(self.view.services.values())
            self.view.services_changed = False
        write_hosts(self.runner.pods.values(), services)
        self.runner.hosts_dirty = False

    def _cleanup_leftovers(self) -> None:
        """Kill container processes a previous kubelet of this node left running."""
        for pid_file in self.settings.pods_dir.glob("*/*/*/*.pid"):
            try:
                pid = int(pid_file.read_text())
            except (OSError, ValueError):
                continue
            terminate(pid, None, 5)
        shutil.rmtree(self.settings.pods_dir, ignore_errors=True)

    def shutdown(self) -> None:
        """Stop every container: SIGTERM, a short grace, SIGKILL."""
        for rt in self.runner.pods.values():
            self.runner.signal_all(rt, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        for rt in self.runner.pods.values():
            for proc in rt.procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    terminate(proc.pid, None, 0)
