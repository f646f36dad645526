"""The life of one pod on the local node, from admission to its final removal.

A pod bound to the node is admitted (a directory, a 127.0.<block>.x address, one
`ContainerState` per container), its containers are started as processes (volumes, env, the
command line; a bad reference is a CreateContainerConfigError, retried), reaped and restarted
per restartPolicy with exponential back-off. Its status is written as a kubelet writes it, only
when it changed. On deletion the containers get SIGTERM, the grace period, then SIGKILL, and
the pod object is removed with grace 0. `PodRunner` is driven by the kubelet loop's thread
only; it flags `hosts_dirty` whenever the hosts files need rewriting.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from kubetrain.dev.localnode import podspec, runtime, volumes
from kubetrain.dev.localnode.apisource import ApiVolumeSource, env_sources
from kubetrain.dev.localnode.node import NodeSettings, now_iso
from kubetrain.dev.localnode.podspec import ContainerState, PodConfigError
from kubetrain.dev.processes import terminate

log = logging.getLogger("kubetrain.localnode")

RESTART_BACKOFF_MAX = 60.0
CONFIG_RETRY_SECONDS = 5.0
HOST_IP = "127.0.0.1"
FINISHED_PHASES = ("Succeeded", "Failed")


@dataclass
class PodRuntime:
    """The loop's record of one pod it runs."""

    uid: str
    namespace: str
    name: str
    ip: str
    dir: Path
    pod: dict[str, Any]
    start_time: str
    containers: dict[str, ContainerState] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restart_at: dict[str, float] = field(default_factory=dict)
    volume_paths: dict[str, Path] | None = None
    kill_deadline: float | None = None
    last_status: dict[str, Any] | None = None
    config_error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def pod_dir(pods_dir: Path, namespace: str, name: str, uid: str) -> Path:
    return pods_dir / namespace / name / uid


def base_env(apiserver_port: int) -> dict[str, str]:
    """The environment every container starts from, as a kubelet gives it."""
    return {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONUNBUFFERED": "1",
        "KUBERNETES_SERVICE_HOST": HOST_IP,
        "KUBERNETES_SERVICE_PORT": str(apiserver_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(apiserver_port),
        "KUBERNETES_PORT": f"tcp://{HOST_IP}:{apiserver_port}",
    }


class PodRunner:
    """Runs the pods the loop admits: `pods` maps uid -> runtime."""

    def __init__(self, core: client.CoreV1Api, settings: NodeSettings) -> None:
        self.core = core
        self.settings = settings
        self.volume_source = ApiVolumeSource(core)
        self.base_env = base_env(settings.apiserver_port)
        self.pods: dict[str, PodRuntime] = {}
        self.hosts_dirty = True

    # --- admission -----------------------------------------------------------------------

    def admit(self, pod: dict[str, Any]) -> PodRuntime:
        """A new pod: its directory, address and container states; PodConfigError if full."""
        meta = pod["metadata"]
        rt = PodRuntime(
            uid=meta["uid"],
            namespace=meta["namespace"],
            name=meta["name"],
            ip=self._allocate_ip(),
            dir=pod_dir(self.settings.pods_dir, meta["namespace"], meta["name"], meta["uid"]),
            pod=pod,
            start_time=now_iso(),
        )
        rt.dir.mkdir(parents=True, exist_ok=True)
        (rt.dir / "pod-ip").write_text(rt.ip)
        for c in pod["spec"]["containers"]:
            rt.containers[c["name"]] = ContainerState(c["name"])
        if pod["spec"].get("initContainers"):
            rt.config_error = "init containers are not supported by the local node"
        self.pods[rt.uid] = rt
        self.hosts_dirty = True
        return rt

    def _allocate_ip(self) -> str:
        used = {p.ip for p in self.pods.values()}
        block = self.settings.pod_ip_block
        for last in range(2, 255):
            ip = f"127.0.{block}.{last}"
            if ip not in used:
                return ip
        raise PodConfigError(f"the local node has no free 127.0.{block}.x address")

    # --- containers ----------------------------------------------------------------------

    def start_container(self, rt: PodRuntime, container: dict[str, Any]) -> None:
        name = container["name"]
        state = rt.containers[name]
        try:
            env, argv, mounts = self._prepare(rt, container)
        except (PodConfigError, ApiException) as exc:
            message = str(exc) if isinstance(exc, PodConfigError) else f"API error: {exc.reason}"
            if state.message != message:
                self.event(rt, "Failed", f"Error: {message}", "Warning")
            state.state, state.reason = "waiting", "CreateContainerConfigError"
            state.message = message
            rt.restart_at[name] = time.monotonic() + CONFIG_RETRY_SECONDS
            return
        log_path = rt.dir / "logs" / f"{name}.log"
        if log_path.exists() and state.restart_count:
            log_path.replace(rt.dir / "logs" / f"{name}.previous.log")
        hostname = rt.pod["spec"].get("hostname") or rt.name
        script = runtime.wrapper_script(
            mounts, rt.dir / "hosts", hostname, container.get("workingDir")
        )
        try:
            proc = runtime.launch(
                argv,
                env,
                script=script,
                script_path=rt.dir / f"run-{name}.sh",
                log_path=log_path,
                cwd=rt.dir,
                isolate=runtime.namespaces_available(),
            )
        except OSError as exc:
            state.state, state.reason, state.message = "waiting", "RunContainerError", str(exc)
            rt.restart_at[name] = time.monotonic() + CONFIG_RETRY_SECONDS
            return
        (rt.dir / f"{name}.pid").write_text(str(proc.pid))
        rt.procs[name] = proc
        state.state, state.reason, state.message = "running", "", ""
        state.started_at, state.finished_at, state.exit_code = now_iso(), None, None
        rt.restart_at.pop(name, None)
        self.hosts_dirty = True
        self.event(rt, "Started", f"Started container {name} (pid {proc.pid})")

    def _prepare(
        self, rt: PodRuntime, container: dict[str, Any]
    ) -> tuple[dict[str, str], list[str], list[volumes.Mount]]:
        """The container's env, command line and mounts; PodConfigError names what is wrong."""
        if rt.config_error:
            raise PodConfigError(rt.config_error)
        if rt.volume_paths is None:
            rt.volume_paths = volumes.materialize(
                rt.pod, rt.dir / "volumes", self.volume_source, rt.ip
            )
        sources = env_sources(self.volume_source, rt.namespace)
        env = podspec.container_env(rt.pod, container, sources, rt.ip, HOST_IP, self.base_env)
        env.setdefault("HOSTNAME", rt.pod["spec"].get("hostname") or rt.name)
        argv = podspec.command_line(container, env)
        return (
            env,
            argv,
            [*volumes.mounts(container, rt.volume_paths), _termination_log(rt, container)],
        )

    def reap(self, rt: PodRuntime) -> None:
        """Record the containers that exited; schedule restarts per restartPolicy."""
        policy = rt.pod["spec"].get("restartPolicy", "Always")
        for name, proc in list(rt.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del rt.procs[name]
            self.hosts_dirty = True
            state = rt.containers[name]
            exit_code = code if code >= 0 else 128 - code
            state.state, state.exit_code, state.finished_at = "terminated", exit_code, now_iso()
            state.reason = "Completed" if exit_code == 0 else "Error"
            container = next(c for c in rt.pod["spec"]["containers"] if c["name"] == name)
            state.message = termination_message(rt, container, exit_code)
            restart = policy == "Always" or (policy == "OnFailure" and exit_code != 0)
            if restart and rt.kill_deadline is None:
                delay = min(RESTART_BACKOFF_MAX, 2.0 * 2**state.restart_count)
                rt.restart_at[name] = time.monotonic() + delay

    def start_due(self, rt: PodRuntime) -> None:
        """Start the containers not started yet, and those whose restart is due."""
        now = time.monotonic()
        for container in rt.pod["spec"]["containers"]:
            name = container["name"]
            state = rt.containers[name]
            due = rt.restart_at.get(name)
            if name in rt.procs or rt.kill_deadline is not None:
                continue
            if state.state == "waiting" and state.reason == "ContainerCreating":
                self.start_container(rt, container)
            elif due is not None and now >= due:
                if state.state == "terminated":
                    state.last_terminated = state.as_status("")["state"]["terminated"]
                    state.restart_count += 1
                self.start_container(rt, container)

    def signal_all(self, rt: PodRuntime, sig: signal.Signals) -> None:
        for proc in rt.procs.values():
            runtime.signal_container(proc.pid, sig)

    # --- deletion ------------------------------------------------------------------------

    def handle_deletion(self, rt: PodRuntime) -> bool:
        """True when the pod is gone from the API and its runtime can be forgotten."""
        meta = rt.pod["metadata"]
        if rt.kill_deadline is None:
            grace = meta.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = rt.pod["spec"].get("terminationGracePeriodSeconds", 30)
            rt.kill_deadline = time.monotonic() + float(grace)
            rt.restart_at.clear()
            if rt.procs:
                self.event(rt, "Killing", f"Stopping containers with SIGTERM, grace {grace}s")
                self.signal_all(rt, signal.SIGTERM)
        self.reap(rt)
        if rt.procs and time.monotonic() >= rt.kill_deadline:
            self.signal_all(rt, signal.SIGKILL)
            for proc in rt.procs.values():
                proc.wait(timeout=5)
            self.reap(rt)
        if rt.procs:
            return False
        self.push_status(rt)
        self.remove_pod_object(rt.namespace, rt.name, rt.uid)
        return True

    def remove_pod_object(self, namespace: str, name: str, uid: str) -> None:
        """The kubelet's final delete (grace 0) once no container of the pod runs."""
        try:
            self.core.delete_namespaced_pod(
                name,
                namespace,
                body=client.V1DeleteOptions(grace_period_seconds=0, preconditions={"uid": uid}),
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def forget(self, rt: PodRuntime) -> None:
        """Stop what still runs, remove the pod's directory and its record."""
        for proc in rt.procs.values():
            terminate(proc.pid, None, 2)
            proc.wait(timeout=5)
        rt.procs.clear()
        shutil.rmtree(rt.dir, ignore_errors=True)
        self.pods.pop(rt.uid, None)
        self.hosts_dirty = True

    # --- what the API server sees --------------------------------------------------------

    def push_status(self, rt: PodRuntime) -> None:
        """Write the pod's status if it changed (conditions compare by type and status)."""
        containers = [rt.containers[c["name"]] for c in rt.pod["spec"]["containers"]]
        status = podspec.pod_status(
            rt.pod, containers, rt.ip, HOST_IP, rt.start_time, now_iso(), rt.last_status
        )
        if _same_status(status, rt.last_status):
            return
        previous_phase = (rt.last_status or {}).get("phase")
        try:
            self.core.patch_namespaced_pod_status(rt.name, rt.namespace, {"status": status})
            rt.last_status = status
        except ApiException as exc:
            if exc.status != 404:
                log.warning("status update of %s failed: %s", rt.key, exc.reason)
        if status["phase"] != previous_phase:
            self.hosts_dirty = True

    def event(self, rt: PodRuntime, reason: str, message: str, kind: str = "Normal") -> None:
        """Record an Event on the pod, as a kubelet does (best effort)."""
        involved = {
            "kind": "Pod",
            "namespace": rt.namespace,
            "name": rt.name,
            "uid": rt.uid,
            "apiVersion": "v1",
        }
        body = {
            "metadata": {"generateName": f"{rt.name}."},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": self.settings.name},
            "firstTimestamp": now_iso(),
            "lastTimestamp": now_iso(),
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(rt.namespace, body)
        except ApiException:
            log.warning("could not record event %s for %s", reason, rt.key)


def _same_status(status: dict[str, Any], last: dict[str, Any] | None) -> bool:
    """Equal but for the conditions' timestamps."""
    last = last or {}

    def conditions(s: dict[str, Any]) -> list[tuple[str, str]]:
        return [(c["type"], c["status"]) for c in s.get("conditions", [])]

    def rest(s: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.items() if k != "conditions"}

    return rest(status) == rest(last) and conditions(status) == conditions(last)


# --- termination messages ----------------------------------------------------------------

DEFAULT_TERMINATION_PATH = "/dev/termination-log"
MAX_MESSAGE_BYTES = 4096  # a kubelet's limit for the file
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048  # and for FallbackToLogsOnError


def _termination_file(rt: PodRuntime, name: str) -> Path:
    return rt.dir / f"{name}.termination-log"


def _termination_log(rt: PodRuntime, container: dict[str, Any]) -> volumes.Mount:
    """An empty file of the pod's, bind-mounted at the container's terminationMessagePath."""
    path = _termination_file(rt, container["name"])
    path.write_bytes(b"")
    path.chmod(0o666)  # the container may run as any user
    target = container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH
    return volumes.Mount(source=path, target=target, read_only=False)


def termination_message(rt: PodRuntime, container: dict[str, Any], exit_code: int) -> str:
    """What the container wrote to its termination log, else (FallbackToLogsOnError, failed)
    the tail of its log: the message a kubelet reports in the terminated state."""
    path = _termination_file(rt, container["name"])
    written = path.read_bytes()[:MAX_MESSAGE_BYTES] if path.exists() else b""
    if written.strip():
        return written.decode(errors="replace").strip()
    if exit_code == 0 or container.get("terminationMessagePolicy") != "FallbackToLogsOnError":
        return ""
    log = rt.dir / "logs" / f"{container['name']}.log"
    lines = log.read_bytes().splitlines()[-FALLBACK_LINES:] if log.exists() else []
    return b"\n".join(lines)[-FALLBACK_BYTES:].decode(errors="replace").strip()
