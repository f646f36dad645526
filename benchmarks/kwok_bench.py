"""What the operator benchmarks and fault scripts share: the dev cluster, simulated node pools
whose pods kwok ends (kubetrain.dev.pools.OUTCOME_LABEL), an operator process, the API
server's request counters, and a watch that timestamps every job's phases.

Used by benchmarks/operator_scale.py and benchmarks/chaos_operator.py, and through them by
tests/integration/test_operator_scale.py. Needs the dev cluster (`kubetrain dev up`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: tests.support is importable from the root
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from kubernetes import client, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402
from tests.support.cluster import DevCluster, S3Store  # noqa: E402
from tests.support.manifests import training_job  # noqa: E402
from tests.support.operator_harness import Operator, prepare_namespace  # noqa: E402

from kubetrain.api import GROUP, PLURAL, VERSION  # noqa: E402
from kubetrain.dev.config import GPU_RESOURCE, POOL_LABEL, NodePool, Taint  # noqa: E402
from kubetrain.dev.pools import OUTCOME_LABEL, build_node  # noqa: E402

CPU_POOL, GPU_POOL, FLAKY_POOL = "bench-cpu", "bench-gpu", "bench-flaky"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
PROFILES: list[dict[str, Any]] = [
    {
        "name": CPU_POOL,
        "nodeSelector": {POOL_LABEL: CPU_POOL, OUTCOME_LABEL: "succeed"},
        "resources": {"cpu": "1", "memory": "1Gi"},
    },
    {
        "name": "gpu-bench",
        "nodeSelector": {POOL_LABEL: GPU_POOL, OUTCOME_LABEL: "succeed"},
        "tolerations": [GPU_TOLERATION],
        "resources": {"cpu": "4", "memory": "16Gi"},
        "gpus": 1,
    },
    {
        "name": FLAKY_POOL,
        "nodeSelector": {POOL_LABEL: FLAKY_POOL, OUTCOME_LABEL: "fail-first"},
        "resources": {"cpu": "1", "memory": "1Gi"},
    },
]
"""Compute profiles on the benchmark's pools: `bench-cpu` and `gpu-bench` pods end with exit
0, `bench-flaky` pods fail their first attempt and succeed the next."""


def pools(cpu_nodes: int, gpu_nodes: int, flaky_nodes: int = 0) -> list[tuple[NodePool, int]]:
    """The benchmark's node pools and how many nodes each gets."""
    taint = Taint(key=GPU_RESOURCE, value="present", effect="NoSchedule")
    return [
        (NodePool(name=CPU_POOL, cpu="64", memory="256Gi", labels={OUTCOME_LABEL: "succeed"}),
         cpu_nodes),
        (NodePool(name=GPU_POOL, cpu="96", memory="1Ti", gpus=8, taints=[taint],
                  labels={OUTCOME_LABEL: "succeed"}), gpu_nodes),
        (NodePool(name=FLAKY_POOL, cpu="64", memory="256Gi",
                  labels={OUTCOME_LABEL: "fail-first"}), flaky_nodes),
    ]  # fmt: skip


def connect() -> DevCluster:
    """The running dev cluster (started if it is not: `up` is idempotent)."""
    from kubetrain.dev import cluster

    info = cluster.up()
    os.environ["KUBECONFIG"] = str(info.kubeconfig)
    s3 = info.s3
    store = S3Store(s3.endpoint, s3.access_key, s3.secret_key, s3.bucket, s3.secret_name)
    return DevCluster(kubeconfig=info.kubeconfig, s3=store, bin_dir=info.bin_dir)


def ensure_nodes(core: client.CoreV1Api, wanted: list[tuple[NodePool, int]]) -> float:
    """Create the pools' nodes (keeping those that exist), remove surplus ones, wait until all
    are Ready and schedulable; the seconds it took."""
    started = time.monotonic()
    names = {f"{p.name}-{i}" for p, n in wanted for i in range(n)}
    selector = f"{POOL_LABEL} in ({','.join(p.name for p, _ in wanted)})"
    existing = {n.metadata.name for n in core.list_node(label_selector=selector).items}
    nodes = [
        build_node(p, i) for p, n in wanted for i in range(n) if f"{p.name}-{i}" not in existing
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: _ignore(409, lambda: core.create_node(n)), nodes))
        list(pool.map(lambda n: _ignore(404, lambda: core.delete_node(n)), existing - names))
    # The node controller lifts a new node's not-ready taint well after kwok reports it Ready
    # (about 160 s for 1,000 nodes here); a pod submitted before waits for it.
    deadline = time.monotonic() + 120 + len(names) / 4
    while time.monotonic() < deadline:
        ready = sum(1 for n in core.list_node(label_selector=selector).items if _ready(n))
        if ready >= len(names):
            return time.monotonic() - started
        time.sleep(2)
    raise TimeoutError(f"only {ready} of {len(names)} benchmark nodes became Ready and schedulable")


def remove_nodes(core: client.CoreV1Api) -> None:
    selector = f"{POOL_LABEL} in ({CPU_POOL},{GPU_POOL},{FLAKY_POOL})"
    core.delete_collection_node(label_selector=selector)


def _ready(node: Any) -> bool:
    """Ready, and without the node controller's `node.kubernetes.io/...` taints."""
    if any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or []):
        return False
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def _ignore(status: int, call: Callable[[], Any]) -> None:
    try:
        call()
    except ApiException as exc:
        if exc.status != status:
            raise


def new_namespace(cluster: DevCluster, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {name}")
        time.sleep(0.2)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    prepare_namespace(cluster, name)
    return name


def operator_config(cluster: DevCluster, path: Path, **overrides: Any) -> Path:
    """The operator's configuration: the benchmark profiles, the dev S3 store, the chart's
    defaults otherwise (progress read every 10 s)."""
    config = {
        "trainerImage": "kubetrain/trainer:dev",
        "profiles": PROFILES,
        "defaultProfile": CPU_POOL,
        "gangTimeoutSeconds": 60,
        "artifactStore": {
            "uri": f"s3://{cluster.s3.bucket}",
            "endpoint": cluster.s3.endpoint,
            "credentialsSecret": cluster.s3.secret_name,
        },
        **overrides,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def start_operator(
    cluster: DevCluster, namespace: str, config: Path, log: Path, command: list[str] | None = None
) -> Operator:
    return Operator(cluster, namespace, config, log, lease=None, command=command).start()


def operator_jobs_seen(port: int) -> int:
    """How many jobs the operator's kubetrain_jobs gauge counts (it has reconciled each);
    -1 while its metrics endpoint does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return -1
    gauge = [line for line in text.splitlines() if line.startswith("kubetrain_jobs{")]
    return int(sum(float(line.split()[-1]) for line in gauge))


def up(op: Operator, timeout: float = 60) -> Operator:
    """Wait until `op` serves its metrics; start it again if it exited first (another process
    on the machine, e.g. Ray, took a port `free_port` had picked), on new ports."""
    for _ in range(3):
        deadline = time.monotonic() + timeout
        while operator_jobs_seen(op.metrics_port) < 0:
            if op.proc is not None and op.proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the operator's metrics endpoint never answered")
            time.sleep(0.1)
        else:
            return op
        op.start()
    raise RuntimeError("the operator exited at start three times running")


def wait_operator_up(port: int, timeout: float = 60) -> None:
    """Until the operator serves its metrics (it does so just before kopf starts)."""
    deadline = time.monotonic() + timeout
    while operator_jobs_seen(port) < 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the operator's metrics endpoint never answered")
        time.sleep(0.1)


def job_manifest(
    name: str, profile: str = CPU_POOL, workers: int = 1, **run_policy: Any
) -> dict[str, Any]:
    """An iris random-forest TrainingJob on `profile` (the tests' `training_job`)."""
    model = {"builtin": {"name": "random-forest"}}
    return training_job(name, model, {"profile": profile, "workers": workers}, **run_policy)


def submit(custom: client.CustomObjectsApi, namespace: str, job: dict[str, Any]) -> float:
    """Create the job; the monotonic time the API server accepted it."""
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, job)
    return time.monotonic()


# --- process and API server measurements --------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ProcessSampler:
    """Samples a process's RSS every `every` seconds in the background; keeps the peak."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every, self.peak = pid, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except OSError:
                return
            self._stop.wait(self.every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_counts(cluster: DevCluster) -> Counter[str]:
    """apiserver_request_total from the API server's /metrics, summed by
    "VERB [group/]resource[/subresource]" (all response codes; no group for the core API and
    kubetrain.io)."""
    text = cluster.kubectl("get", "--raw", "/metrics", timeout=60).stdout
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        resource = labels.get("resource", "")
        if labels.get("group") and labels.get("group") != GROUP:  # e.g. the scheduler's Events
            resource = f"{labels['group']}/{resource}"
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[f"{labels.get('verb', '')} {resource}"] += int(float(match["value"]))
    return counts


OPERATOR_RESOURCES = (
    "trainingjobs",
    "trainingjobs/status",
    "pods",
    "configmaps",
    "secrets",
    "services",
    "networkpolicies",
    "events",
    "workloads",
)
"""What the operator reads and writes (core Events; the scheduler writes events.k8s.io ones).
Others touch some of them too — the benchmark creates the TrainingJobs and watches, kwok
writes pods/status, the scheduler pods/binding — so those subresources are left out and the
benchmark's own creates are subtracted (operator_scale._requests_by_verb)."""


def diff(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    """The requests between two readings, for the operator's resources only."""
    out = {}
    for key, value in after.items():
        resource = key.split(" ", 1)[1].replace("networking.k8s.io/", "")
        if resource in OPERATOR_RESOURCES and value - before.get(key, 0) > 0:
            out[key] = value - before.get(key, 0)
    return dict(sorted(out.items()))


def writes(requests: dict[str, int]) -> int:
    verbs = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION")
    return sum(v for k, v in requests.items() if k.split(" ")[0] in verbs)


# --- the watch ------------------------------------------------------------------------------


@dataclass
class JobTimes:
    """Monotonic times at which the benchmark saw each step of one job."""

    submitted: float | None = None
    first_pod: float | None = None
    pod_running: float | None = None
    pod_succeeded: float | None = None
    phases: dict[str, float] = field(default_factory=dict)
    phase: str | None = None
    status: dict[str, Any] = field(default_factory=dict)


class Watcher:
    """Watches the namespace's TrainingJobs and pods and timestamps what it sees."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom, self.core, self.namespace = (
            client.CustomObjectsApi(api),
            client.CoreV1Api(api),
            namespace,
        )
        self.jobs: dict[str, JobTimes] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._loop, args=(self._jobs_once,), daemon=True),
            threading.Thread(target=self._loop, args=(self._pods_once,), daemon=True),
        ]
        for t in self.threads:
            t.start()

    def times(self, name: str) -> JobTimes:
        with self.lock:
            return self.jobs.setdefault(name, JobTimes())

    def _loop(self, once: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                once()
            except Exception as exc:  # a dropped watch: start again from a fresh list
                print(f"  (watch restarted: {type(exc).__name__}: {exc})", file=sys.stderr)
                time.sleep(1)

    def _stream(self, fn: Callable[..., Any], **kwargs: Any) -> Iterable[dict[str, Any]]:
        w = watch.Watch()  # one long watch: a reconnect replays every object as ADDED
        for event in w.stream(fn, timeout_seconds=1800, deserialize=False, **kwargs):
            if self._stop.is_set():
                w.stop()
                return
            obj = event.get("raw_object") or event.get("object")
            if isinstance(obj, dict) and event.get("type") != "ERROR":
                yield obj

    def _jobs_once(self) -> None:
        fn = self.custom.list_namespaced_custom_object
        for obj in self._stream(fn, group=GROUP, version=VERSION, namespace=self.namespace,
                                plural=PLURAL):  # fmt: skip
            now = time.monotonic()
            status = obj.get("status") or {}
            t = self.times(obj["metadata"]["name"])
            t.status, t.phase = status, status.get("phase")
            if t.phase:
                t.phases.setdefault(t.phase, now)

    def _pods_once(self) -> None:
        fn = self.core.list_namespaced_pod
        for pod in self._stream(
            fn, namespace=self.namespace, label_selector="kubetrain.io/job-name"
        ):
            now = time.monotonic()
            t = self.times(pod["metadata"]["labels"]["kubetrain.io/job-name"])
            phase = (pod.get("status") or {}).get("phase")
            if t.first_pod is None:
                t.first_pod = now
            if phase == "Running" and t.pod_running is None:
                t.pod_running = now
            if phase == "Succeeded" and t.pod_succeeded is None:
                t.pod_succeeded = now

    def wait(self, names: Iterable[str], done: Callable[[JobTimes], bool], timeout: float) -> bool:
        """Until `done` holds for every named job, or `timeout` seconds."""
        names = list(names)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(done(self.times(n)) for n in names):
                return True
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        self._stop.set()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))


def stop_api_server() -> Callable[[], None]:
    """Stop the dev cluster's kube-apiserver and etcd; return what starts them again (and
    waits until the API server is ready)."""
    from kubetrain.dev import binaries, controlplane
    from kubetrain.dev.config import load
    from kubetrain.dev.layout import Layout
    from kubetrain.dev.processes import Supervisor

    config = load(None)
    layout = Layout(config.state_dir)
    sup = Supervisor(layout.run, layout.logs)
    sup.stop("kube-apiserver")
    sup.stop("etcd")
    return lambda: controlplane.start(binaries.bin_dir(), config, layout, sup)
