"""The `local` node's kubelet: pods bound to it really run as processes on this machine.

It registers the Node, renews its Lease, watches the pods bound to it and the cluster's
Services, and reconciles in one loop: start what is new (volumes, env, a 127.0.0.x pod IP, a
private hosts file), restart per restartPolicy with back-off, report status as a kubelet
would, and on deletion send SIGTERM, wait the grace period, SIGKILL, and delete the pod.
Watch threads only hand objects to the loop; all pod state is owned by the loop's thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from kubetrain.dev.localnode import logserver, podspec, runtime, volumes
from kubetrain.dev.localnode.podspec import ContainerState, PodConfigError
from kubetrain.dev.processes import terminate

log = logging.getLogger("kubetrain.localnode")

LEASE_SECONDS = 40
RESTART_BACKOFF_MAX = 60.0


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class NodeSettings:
    name: str
    pool: str
    pool_label: str
    taint_key: str
    cpu: str
    memory: str
    max_pods: int
    pods_dir: Path
    apiserver_port: int
    kubelet_port: int
    state_dir: Path
    serving_cert: Path
    serving_key: Path
    client_ca: Path
    pod_ip_block: int = 0


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


class ApiVolumeSource:
    """volumes.VolumeSource over the node's API client."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core = core

    def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        try:
            cm = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise
        data = {k: v.encode() for k, v in (cm.data or {}).items()}
        data.update(volumes.decode_secret(cm.binary_data))
        return data

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise
        return volumes.decode_secret(secret.data)

    def token(self, pod: Mapping[str, Any], audience: str | None, expiration_seconds: int) -> str:
        meta = pod["metadata"]
        body = {
            "spec": {
                "audiences": [audience] if audience else None,
                "expirationSeconds": max(expiration_seconds, 600),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            }
        }
        sa = pod["spec"].get("serviceAccountName") or "default"
        result = self.core.create_namespaced_service_account_token(sa, meta["namespace"], body)
        return str(result.status.token)


class Kubelet:
    """Runs the pods bound to one node. `run()` blocks until SIGTERM/SIGINT."""

    def __init__(self, api: client.ApiClient, settings: NodeSettings) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.settings = settings
        self.volume_source = ApiVolumeSource(self.core)
        self.desired: dict[str, dict[str, Any]] = {}  # uid -> latest pod object
        self.services: dict[str, dict[str, Any]] = {}  # ns/name -> service
        self.pods: dict[str, PodRuntime] = {}  # uid -> runtime
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.hosts_dirty = True
        self.base_env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(settings.apiserver_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(settings.apiserver_port),
            "KUBERNETES_PORT": f"tcp://127.0.0.1:{settings.apiserver_port}",
        }

    # --- the node ------------------------------------------------------------------------

    def _node_body(self) -> dict[str, Any]:
        s = self.settings
        capacity = {"cpu": s.cpu, "memory": s.memory, "pods": str(s.max_pods)}
        now = now_iso()
        conditions = [
            ("Ready", "True", "KubeletReady", "the local node runs pods as processes"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", ""),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", ""),
            ("PIDPressure", "False", "KubeletHasSufficientPID", ""),
        ]
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": s.name,
                "labels": {
                    "kubernetes.io/hostname": s.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "local",
                    s.pool_label: s.pool,
                },
            },
            "spec": {"taints": [{"key": s.taint_key, "value": "true", "effect": "NoSchedule"}]},
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": s.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": s.kubelet_port}},
                "conditions": [
                    {
                        "type": t,
                        "status": st,
                        "reason": r,
                        "message": m,
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    }
                    for t, st, r, m in conditions
                ],
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "kubetrain-local",
                    "kubeProxyVersion": "",
                    "containerRuntimeVersion": "process://local",
                    "osImage": "this machine",
                    "kernelVersion": os.uname().release,
                    "bootID": "",
                    "machineID": "",
                    "systemUUID": "",
                },
            },
        }

    def register(self) -> None:
        body = self._node_body()
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self.core.patch_node_status(self.settings.name, {"status": body["status"]})

    def _renew_lease(self) -> None:
        name, ns = self.settings.name, "kube-node-lease"
        renew = dt.datetime.now(dt.UTC)
        try:
            self.coordination.patch_namespaced_lease(
                name, ns, {"spec": {"renewTime": renew, "holderIdentity": name}}
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            node = self.core.read_node(name)
            self.coordination.create_namespaced_lease(
                ns,
                {
                    "metadata": {
                        "name": name,
                        "ownerReferences": [
                            {
                                "apiVersion": "v1",
                                "kind": "Node",
                                "name": name,
                                "uid": node.metadata.uid,
                            }
                        ],
                    },
                    "spec": {
                        "holderIdentity": name,
                        "leaseDurationSeconds": LEASE_SECONDS,
                        "renewTime": renew,
                    },
                },
            )

    def _heartbeat_loop(self) -> None:
        last_status = 0.0
        while not self.stopping.is_set():
            try:
                self._renew_lease()
                if time.monotonic() - last_status > 60:
                    self.core.patch_node_status(
                        self.settings.name, {"status": self._node_body()["status"]}
                    )
                    last_status = time.monotonic()
            except Exception:
                log.exception("heartbeat failed")
            self.stopping.wait(10)

    # --- watches -------------------------------------------------------------------------

    def _list_and_watch(
        self,
        list_fn: Any,
        replace_all: Any,
        apply_event: Any,
        **selectors: str,
    ) -> None:
        """List, hand the objects to the loop, then watch from that version; relist on error."""
        while not self.stopping.is_set():
            try:
                listing = list_fn(**selectors)
                with self.lock:
                    replace_all([self.api.sanitize_for_serialization(o) for o in listing.items])
                self.wake.set()
                stream = watch.Watch().stream(
                    list_fn,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=300,
                    **selectors,
                )
                for event in stream:
                    obj = self.api.sanitize_for_serialization(event["object"])
                    with self.lock:
                        apply_event(event["type"], obj)
                    self.wake.set()
                    if self.stopping.is_set():
                        return
            except Exception as exc:  # a 410 Gone or a dropped connection: relist
                if not self.stopping.is_set():
                    log.info("watch restarting: %s", exc)
                    self.stopping.wait(1)

    def _watch_pods(self) -> None:
        def replace_all(objs: list[dict[str, Any]]) -> None:
            self.desired = {o["metadata"]["uid"]: o for o in objs}

        def apply_event(kind: str, obj: dict[str, Any]) -> None:
            if kind == "DELETED":
                self.desired.pop(obj["metadata"]["uid"], None)
            else:
                self.desired[obj["metadata"]["uid"]] = obj

        self._list_and_watch(
            self.core.list_pod_for_all_namespaces,
            replace_all,
            apply_event,
            field_selector=f"spec.nodeName={self.settings.name}",
        )

    def _watch_services(self) -> None:
        def key(obj: dict[str, Any]) -> str:
            return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"

        def replace_all(objs: list[dict[str, Any]]) -> None:
            self.services = {key(o): o for o in objs}
            self.hosts_dirty = True

        def apply_event(kind: str, obj: dict[str, Any]) -> None:
            if kind == "DELETED":
                self.services.pop(key(obj), None)
            else:
                self.services[key(obj)] = obj
            self.hosts_dirty = True

        self._list_and_watch(self.core.list_service_for_all_namespaces, replace_all, apply_event)

    # --- pods ----------------------------------------------------------------------------

    def _allocate_ip(self) -> str:
        used = {p.ip for p in self.pods.values()}
        for last in range(2, 255):
            ip = f"127.0.{self.settings.pod_ip_block}.{last}"
            if ip not in used:
                return ip
        raise PodConfigError(
            f"the local node has no free 127.0.{self.settings.pod_ip_block}.x address"
        )

    def _event(self, rt: PodRuntime, reason: str, message: str, kind: str = "Normal") -> None:
        try:
            self.core.create_namespaced_event(
                rt.namespace,
                {
                    "metadata": {"generateName": f"{rt.name}."},
                    "involvedObject": {
                        "kind": "Pod",
                        "namespace": rt.namespace,
                        "name": rt.name,
                        "uid": rt.uid,
                        "apiVersion": "v1",
                    },
                    "reason": reason,
                    "message": message,
                    "type": kind,
                    "source": {"component": "kubelet", "host": self.settings.name},
                    "firstTimestamp": now_iso(),
                    "lastTimestamp": now_iso(),
                    "count": 1,
                },
            )
        except ApiException:
            log.warning("could not record event %s for %s", reason, rt.key)

    def _new_runtime(self, pod: dict[str, Any]) -> PodRuntime:
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
        self.hosts_dirty = True
        return rt

    def _env_sources(self, namespace: str) -> podspec.EnvSources:
        vs = self.volume_source

        def text(data: dict[str, bytes] | None) -> dict[str, str] | None:
            return None if data is None else {k: v.decode() for k, v in data.items()}

        return podspec.EnvSources(
            config_map_key=lambda n, k: (text(vs.config_map(namespace, n)) or {}).get(k),
            secret_key=lambda n, k: (text(vs.secret(namespace, n)) or {}).get(k),
            config_map=lambda n: text(vs.config_map(namespace, n)),
            secret=lambda n: text(vs.secret(namespace, n)),
        )

    def _start_container(self, rt: PodRuntime, container: dict[str, Any]) -> None:
        name = container["name"]
        state = rt.containers[name]
        try:
            if rt.config_error:
                raise PodConfigError(rt.config_error)
            if rt.volume_paths is None:
                rt.volume_paths = volumes.materialize(
                    rt.pod, rt.dir / "volumes", self.volume_source, rt.ip
                )
            env = podspec.container_env(
                rt.pod,
                container,
                self._env_sources(rt.namespace),
                rt.ip,
                "127.0.0.1",
                self.base_env,
            )
            env.setdefault("HOSTNAME", rt.pod["spec"].get("hostname") or rt.name)
            argv = podspec.command_line(container, env)
            mounts = volumes.mounts(container, rt.volume_paths)
        except (PodConfigError, ApiException) as exc:
            message = str(exc) if isinstance(exc, PodConfigError) else f"API error: {exc.reason}"
            if state.message != message:
                self._event(rt, "Failed", f"Error: {message}", "Warning")
            state.state, state.reason, state.message = (
                "waiting",
                "CreateContainerConfigError",
                message,
            )
            rt.restart_at[name] = time.monotonic() + 5
            return
        log_path = rt.dir / "logs" / f"{name}.log"
        if log_path.exists() and state.restart_count:
            log_path.replace(rt.dir / "logs" / f"{name}.previous.log")
        script = runtime.wrapper_script(
            mounts,
            rt.dir / "hosts",
            rt.pod["spec"].get("hostname") or rt.name,
            container.get("workingDir"),
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
            rt.restart_at[name] = time.monotonic() + 5
            return
        (rt.dir / f"{name}.pid").write_text(str(proc.pid))
        rt.procs[name] = proc
        state.state, state.reason, state.message = "running", "", ""
        state.started_at, state.finished_at, state.exit_code = now_iso(), None, None
        rt.restart_at.pop(name, None)
        self.hosts_dirty = True
        self._event(rt, "Started", f"Started container {name} (pid {proc.pid})")

    def _reap(self, rt: PodRuntime) -> None:
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
            state.message = ""
            restart = policy == "Always" or (policy == "OnFailure" and exit_code != 0)
            if restart and rt.kill_deadline is None:
                delay = min(RESTART_BACKOFF_MAX, 2.0 * 2**state.restart_count)
                rt.restart_at[name] = time.monotonic() + delay

    def _restart_due(self, rt: PodRuntime) -> None:
        now = time.monotonic()
        for container in rt.pod["spec"]["containers"]:
            name = container["name"]
            state = rt.containers[name]
            due = rt.restart_at.get(name)
            if name in rt.procs or rt.kill_deadline is not None:
                continue
            if state.state == "waiting" and state.reason == "ContainerCreating":
                self._start_container(rt, container)
            elif due is not None and now >= due:
                if state.state == "terminated":
                    state.last_terminated = state.as_status("")["state"]["terminated"]
                    state.restart_count += 1
                self._start_container(rt, container)

    def _signal_all(self, rt: PodRuntime, sig: signal.Signals) -> None:
        for proc in rt.procs.values():
            runtime.signal_container(proc.pid, sig)

    def _handle_deletion(self, rt: PodRuntime) -> bool:
        """True when the pod is gone from the API and its runtime can be forgotten."""
        meta = rt.pod["metadata"]
        if rt.kill_deadline is None:
            grace = meta.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = rt.pod["spec"].get("terminationGracePeriodSeconds", 30)
            rt.kill_deadline = time.monotonic() + float(grace)
            rt.restart_at.clear()
            if rt.procs:
                self._event(rt, "Killing", f"Stopping containers with SIGTERM, grace {grace}s")
                self._signal_all(rt, signal.SIGTERM)
        self._reap(rt)
        if rt.procs and time.monotonic() >= rt.kill_deadline:
            self._signal_all(rt, signal.SIGKILL)
            for proc in rt.procs.values():
                proc.wait(timeout=5)
            self._reap(rt)
        if rt.procs:
            return False
        self._push_status(rt)
        self._remove_pod_object(rt.namespace, rt.name, rt.uid)
        return True

    def _remove_pod_object(self, namespace: str, name: str, uid: str) -> None:
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

    def _forget(self, rt: PodRuntime) -> None:
        for proc in rt.procs.values():
            terminate(proc.pid, None, 2)
            proc.wait(timeout=5)
        rt.procs.clear()
        shutil.rmtree(rt.dir, ignore_errors=True)
        self.pods.pop(rt.uid, None)
        self.hosts_dirty = True

    def _push_status(self, rt: PodRuntime) -> None:
        containers = [rt.containers[c["name"]] for c in rt.pod["spec"]["containers"]]
        status = podspec.pod_status(
            rt.pod, containers, rt.ip, "127.0.0.1", rt.start_time, now_iso(), rt.last_status
        )
        comparable = {k: v for k, v in status.items() if k != "conditions"}
        previous = {k: v for k, v in (rt.last_status or {}).items() if k != "conditions"}
        conditions = [(c["type"], c["status"]) for c in status["conditions"]]
        previous_conditions = [
            (c["type"], c["status"]) for c in (rt.last_status or {}).get("conditions", [])
        ]
        if comparable == previous and conditions == previous_conditions:
            return
        try:
            self.core.patch_namespaced_pod_status(rt.name, rt.namespace, {"status": status})
            rt.last_status = status
        except ApiException as exc:
            if exc.status != 404:
                log.warning("status update of %s failed: %s", rt.key, exc.reason)
        if status["phase"] != (previous or {}).get("phase"):
            self.hosts_dirty = True

    def _write_hosts(self) -> None:
        running = [
            podspec.LocalPod(
                rt.namespace,
                rt.name,
                rt.ip,
                rt.pod["metadata"].get("labels") or {},
                rt.pod["spec"].get("hostname", ""),
                rt.pod["spec"].get("subdomain", ""),
            )
            for rt in self.pods.values()
            if rt.kill_deadline is None and rt.procs
        ]
        with self.lock:
            services = list(self.services.values())
        records = podspec.service_records(services, running)
        for rt in self.pods.values():
            me = podspec.LocalPod(
                rt.namespace,
                rt.name,
                rt.ip,
                {},
                rt.pod["spec"].get("hostname", ""),
                rt.pod["spec"].get("subdomain", ""),
            )
            path = rt.dir / "hosts"
            content = podspec.hosts_file(me, records)
            # Rewrite in place: the file is bind-mounted by inode into running containers.
            if not path.exists() or path.read_text() != content:
                with path.open("w") as fh:
                    fh.write(content)

    def sync(self) -> None:
        with self.lock:
            desired = dict(self.desired)
        for uid, pod in desired.items():
            if uid not in self.pods:
                if pod["metadata"].get("deletionTimestamp") or (pod.get("status") or {}).get(
                    "phase"
                ) in ("Succeeded", "Failed"):
                    # Finished or deleted before we ran it (e.g. across a node restart):
                    # nothing runs, so a deleted one only needs its final removal.
                    if pod["metadata"].get("deletionTimestamp"):
                        self._remove_pod_object(
                            pod["metadata"]["namespace"], pod["metadata"]["name"], uid
                        )
                    continue
                try:
                    self.pods[uid] = self._new_runtime(pod)
                except PodConfigError as exc:
                    log.warning("cannot admit %s: %s", pod["metadata"]["name"], exc)
                    continue
            self.pods[uid].pod = pod
        for uid, rt in list(self.pods.items()):
            try:
                self._sync_pod(uid, rt, desired)
            except Exception:  # one broken pod must not stall every other pod of the node
                log.exception("sync of %s failed", rt.key)
        if self.hosts_dirty:
            self._write_hosts()
            self.hosts_dirty = False

    def _sync_pod(self, uid: str, rt: PodRuntime, desired: dict[str, dict[str, Any]]) -> None:
        if uid not in desired:
            self._forget(rt)
            return
        if rt.pod["metadata"].get("deletionTimestamp"):
            if self._handle_deletion(rt):
                self._forget(rt)
            return
        self._reap(rt)
        if self.hosts_dirty:
            self._write_hosts()
            self.hosts_dirty = False
        self._restart_due(rt)
        self._push_status(rt)

    def _cleanup_leftovers(self) -> None:
        """Kill container processes a previous kubelet of this node left running."""
        for pid_file in self.settings.pods_dir.glob("*/*/*/*.pid"):
            try:
                pid = int(pid_file.read_text())
            except (OSError, ValueError):
                continue
            terminate(pid, None, 5)
        shutil.rmtree(self.settings.pods_dir, ignore_errors=True)

    def run(self) -> None:
        self._cleanup_leftovers()
        self.settings.pods_dir.mkdir(parents=True, exist_ok=True)
        self.register()
        s = self.settings
        logserver.serve(
            s.state_dir,
            s.kubelet_port,
            s.serving_cert,
            s.serving_key,
            s.client_ca,
            self.stopping.is_set,
        )
        for target, name in (
            (self._heartbeat_loop, "heartbeat"),
            (self._watch_pods, "watch-pods"),
            (self._watch_services, "watch-services"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

        def stop(_signum: int, _frame: object) -> None:
            self.stopping.set()
            self.wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping.is_set():
            try:
                self.sync()
            except Exception:
                log.exception("sync failed")
            self.wake.wait(0.5)
            self.wake.clear()
        self.shutdown()

    def shutdown(self) -> None:
        """Stop every container: SIGTERM, a short grace, SIGKILL."""
        for rt in self.pods.values():
            self._signal_all(rt, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for rt in self.pods.values():
            for proc in rt.procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    terminate(proc.pid, None, 0)
