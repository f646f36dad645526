"""Reconcile one TrainingJob: read it and its pods, let the state machine decide, act.

Order matters for restart safety: the new status (phase, attempt) is written *before* the
actions it implies, and every action is idempotent (deterministic names, create-if-absent,
deletes by label). An operator killed anywhere in here resumes from the written status on its
next reconcile without duplicating or orphaning a child.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from kubernetes.client.rest import ApiException

from kubetrain.api import Phase, TrainingJob, check_training_job, queue_name_of
from kubetrain.builders import kueue, objects, pods
from kubetrain.builders.naming import LABEL_ATTEMPT, ROLE_HEAD, ROLE_TRAINER, JobRef
from kubetrain.config import OperatorConfig
from kubetrain.kube import Kube
from kubetrain.logs import current_job
from kubetrain.metrics import ATTEMPTS, RECONCILE_SECONDS, TRANSITIONS, PhaseIndex
from kubetrain.observe import PodView, pod_view, workload_pending_message
from kubetrain.quantity import cpu_cores
from kubetrain.reports import ReportReader, StoreAccess
from kubetrain.state import Decision, Policy, Snapshot, TrainerReport, decide

log = logging.getLogger("kubetrain.reconcile")
ACTIVE_PHASES = (Phase.PENDING, Phase.RUNNING)
"""The phases in which the trainer's progress is read and the job is polled."""
FINISHED_PHASES = tuple(p for p in Phase if p.is_terminal)
DRIVER_ROLES = (ROLE_TRAINER, ROLE_HEAD)
"""The roles whose pod writes the final report."""
SECRET_TTL_SECONDS = 60.0
"""How long a store Secret that was read is trusted before it is read again."""
MESSAGE_REFRESH = dt.timedelta(seconds=30)
"""A status whose only change is a number in a message (the scheduler's "0/1006 nodes are
available: 913 node(s) had untolerated taint(s), ..." while nodes come and go) is written at
most this often; any other change is written at once."""
Clock = Callable[[], dt.datetime]
_NUMBERS = re.compile(r"\d+")


def _policy(obj: dict[str, Any], config: OperatorConfig) -> Policy:
    """Read the lifecycle fields straight from the raw job: they matter even if it is invalid."""
    raw_spec = obj.get("spec") or {}
    run = raw_spec.get("runPolicy") or {}
    compute = raw_spec.get("compute") or {}
    profiles = config.profile_map()
    gpu_resources = compute.get("resources") and compute.get("gpusPerWorker")
    gpu_profile = next((n for n, p in profiles.items() if p.gpus > 0), None)
    named = compute.get("profile") or (gpu_profile if gpu_resources else None)
    profile = profiles.get(named or config.default_profile)
    cpus = 1.0
    gpus = compute.get("gpusPerWorker")
    if profile is not None:
        cpus = cpu_cores((compute.get("resources") or {}).get("cpu") or profile.resources.cpu)
        gpus = profile.gpus if gpus is None else gpus
    return Policy(
        workers=int(compute.get("workers") or 1),
        suspend=bool(run.get("suspend", False)),
        backoff_limit=int(run.get("backoffLimit", 3)),
        active_deadline_seconds=run.get("activeDeadlineSeconds"),
        ttl_seconds_after_finished=run.get("ttlSecondsAfterFinished"),
        cpus_per_pod=cpus,
        gpus_per_pod=int(gpus or 0),
        queue_name=queue_name_of(obj),
    )


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        config: OperatorConfig,
        reports: ReportReader | None = None,
        clock: Clock = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.kube = kube
        self.config = config
        self.reports = reports if reports is not None else ReportReader()
        self._access: dict[tuple[str, str], tuple[float, StoreAccess | str]] = {}
        """(namespace, Secret) -> (monotonic time read, the access or why there is none)."""
        self.clock = clock
        self._locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        """(namespace, name) -> the job's lock, made as its first reconcile begins: so also
        the jobs whose reconcile has begun (and that were not deleted since)."""
        self.due: dict[tuple[str, str], float] = {}
        """(namespace, name) -> monotonic time of the next time-driven reconcile."""
        self.phases = PhaseIndex()
        self._written: dict[tuple[str, str], int] = {}
        """(namespace, name) -> the resourceVersion of this operator's last status write."""
        self._written_at: dict[tuple[str, str], dt.datetime] = {}
        """(namespace, name) -> when (the reconciler's clock) it last wrote the status."""
        self._checked: dict[tuple[str, str], tuple[str, int, TrainingJob | None, list[Any]]] = {}
        """(namespace, name) -> (uid, generation, the validated job, its errors), for the
        unfinished jobs: a spec is validated once per generation, not once per event."""

    def reconcile(
        self,
        namespace: str,
        name: str,
        body: dict[str, Any] | None = None,
        *,
        active_pod: bool = True,
    ) -> Decision | None:
        """Reconcile the job; from `body` (a watch event's) if it is no older than this
        operator's last write of its status, else from a fresh read. A finished job's pods
        are listed only if `active_pod` (an event showed one of them still active): the
        others need nothing (on a restart, that saves a LIST per finished job)."""
        token = current_job.set((namespace, name))
        try:  # the lock is made before the pods are read (see `unfinished`)
            with self._locks[(namespace, name)], RECONCILE_SECONDS.time():
                return self._reconcile(namespace, name, body, active_pod)
        finally:
            current_job.reset(token)

    def is_own_write(self, namespace: str, name: str, body: dict[str, Any]) -> bool:
        """The event shows the job exactly as this operator last wrote it: nothing to do.

        Whatever changed since that write comes as its own event (a newer job, a pod's event)
        or is due on the ticker, so the echo of a status patch needs no reconcile."""
        version = resource_version(body)
        return version is not None and version == self._written.get((namespace, name))

    def unfinished(self, namespace: str, name: str) -> bool:
        """A reconcile of the job has begun, and it had not ended (Succeeded or Failed) when
        this operator last reconciled it. A pod that ends after a reconcile began is seen by
        that reconcile's listing or, once this is True, named by its own event."""
        if (namespace, name) not in self._locks:
            return False
        return self.phases.phases.get(f"{namespace}/{name}") not in FINISHED_PHASES

    def _read(self, namespace: str, name: str, body: dict[str, Any] | None) -> Any:
        if body is not None:
            version = resource_version(body)
            written = self._written.get((namespace, name))
            if version is not None and (written is None or version >= written):
                return body
        return self.kube.get_job(namespace, name)

    def forget(self, namespace: str, name: str) -> None:
        self._locks.pop((namespace, name), None)
        self.due.pop((namespace, name), None)
        self._written.pop((namespace, name), None)
        self._written_at.pop((namespace, name), None)
        self._checked.pop((namespace, name), None)
        self.phases.set(f"{namespace}/{name}", None)

    def _check(self, obj: dict[str, Any], finished: bool) -> tuple[TrainingJob | None, list[Any]]:
        """The validated job and its spec errors; a finished job's spec no longer matters."""
        meta = obj["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        if finished:
            self._checked.pop(key, None)
            return None, []
        generation = int(meta.get("generation") or 0)
        cached = self._checked.get(key)
        if cached is not None and cached[:2] == (meta["uid"], generation):
            return cached[2], cached[3]
        job, errors = check_training_job(
            obj, self.config.profile_map(), self.config.default_profile
        )
        self._checked[key] = (meta["uid"], generation, job, list(errors))
        return job, list(errors)

    def _reconcile(
        self, namespace: str, name: str, body: dict[str, Any] | None, active_pod: bool
    ) -> Decision | None:
        obj = self._read(namespace, name, body)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            self.forget(namespace, name)
            return None
        meta = obj["metadata"]
        ref = JobRef(name, namespace, meta["uid"])
        status = obj.get("status") or {}
        finished = status.get("phase") in FINISHED_PHASES
        job, errors = self._check(obj, finished)
        attempt = int(status.get("attempt") or 0)
        all_pods = self.kube.job_pods(ref) if attempt and (active_pod or not finished) else []
        current = [pod_view(p) for p in all_pods if _attempt_of(p) == attempt]
        stale = sorted({_attempt_of(p) for p in all_pods} - {attempt})
        report = self._report(ref, job, status, current, attempt)
        snapshot = Snapshot(
            generation=int(meta.get("generation") or 0),
            status=status,
            policy=_policy(obj, self.config),
            spec_errors=tuple(str(e) for e in errors),
            artifact_uri_of=(
                (lambda n: pods.artifact_uri(ref, job.spec, self.config, n)) if job else None
            ),
            queue_message=self._queue_message(ref, current, attempt),
        )
        decision = decide(snapshot, current, report, self.clock(), self.config.gang_timeout_seconds)
        self._act(ref, job, status, decision, stale)
        return decision

    def _queue_message(self, ref: JobRef, current: list[PodView], attempt: int) -> str:
        """Kueue's reason for not admitting the attempt, while its pods wait for admission."""
        if not any(p.queued for p in current):
            return ""
        workload = self.kube.get_workload(ref.namespace, kueue.group_name(ref, attempt))
        return workload_pending_message(workload)

    def _report(
        self,
        ref: JobRef,
        job: TrainingJob | None,
        status: dict[str, Any],
        current: list[PodView],
        attempt: int,
    ) -> TrainerReport | None:
        if job is None or not attempt or status.get("phase") not in ACTIVE_PHASES:
            return None
        if not any(p.running or p.succeeded for p in current):
            return None
        final = any(p.succeeded and p.role in DRIVER_ROLES for p in current)
        access = self._store_access(ref.namespace, job)
        if isinstance(access, str):
            return TrainerReport(final=final, store_error=access)
        return self.reports.read(
            access, pods.artifact_uri(ref, job.spec, self.config, attempt), final
        )

    def _store_access(self, namespace: str, job: TrainingJob) -> StoreAccess | str:
        """The credentials the job's pods get, from the same Secret; or why they are missing."""
        store, out = self.config.artifact_store, job.spec.output.s3
        ref = out.credentials_secret if out and out.credentials_secret else None
        name = ref.name if ref else store.credentials_secret
        key_id = ref.access_key_id_key if ref else store.access_key_id_key
        secret_key = ref.secret_access_key_key if ref else store.secret_access_key_key
        cached = self._access.get((namespace, name))
        if cached is None or time.monotonic() - cached[0] > SECRET_TTL_SECONDS:
            try:
                data = self.kube.secret_data(namespace, name)
                found: StoreAccess | str = StoreAccess(
                    endpoint=str(out.endpoint) if out and out.endpoint else store.endpoint,
                    region=(out.region if out and out.region else None) or store.region,
                    access_key=data[key_id],
                    secret_key=data[secret_key],
                )
            except KeyError as exc:
                found = f"no credentials: {exc.args[0]}"
            except ApiException as exc:
                found = f"cannot read Secret {namespace}/{name}: {exc.status} {exc.reason}"
            cached = (time.monotonic(), found)
            self._access[(namespace, name)] = cached
        return cached[1]

    def _act(
        self,
        ref: JobRef,
        job: TrainingJob | None,
        old_status: dict[str, Any],
        decision: Decision,
        stale_attempts: list[int],
    ) -> None:
        new_phase = decision.status.get("phase")
        key = (ref.namespace, ref.name)
        if decision.status != old_status and self._worth_writing(key, old_status, decision.status):
            written = self.kube.patch_job_status(ref, decision.status)
            self._written_at[key] = self.clock()
            version = resource_version(written) if written else None
            # A spec changed since the snapshot (a new generation) must still be reconciled.
            generation = (written or {}).get("metadata", {}).get("generation")
            if version is not None and generation == decision.status.get("observedGeneration"):
                self._written[key] = version
            else:
                self._written.pop(key, None)
            if new_phase != old_status.get("phase"):
                TRANSITIONS.labels(phase=new_phase or "").inc()
        for event in decision.events:
            self.kube.event(ref, event.type, event.reason, event.message)
        if decision.delete_attempt is not None:
            self.kube.delete_attempt_pods(ref, decision.delete_attempt, running_only=True)
        for stale in stale_attempts:
            if stale != decision.create_attempt:
                self.kube.delete_attempt_pods(ref, stale, running_only=True)
        if decision.delete_workers_of is not None:
            self.kube.delete_attempt_pods(ref, decision.delete_workers_of, workers_only=True)
        if (
            decision.create_attempt is not None
            and job is not None
            and self._create_children(ref, job, decision.create_attempt)
        ):
            ATTEMPTS.labels(reason="new" if decision.create_attempt == 1 else "retry").inc()
        if decision.delete_job:
            self.kube.delete_job(ref)
            self.forget(ref.namespace, ref.name)
            return
        self.phases.set(f"{ref.namespace}/{ref.name}", new_phase)
        delay = decision.requeue_after
        if new_phase in ACTIVE_PHASES:
            interval = self.config.progress_interval_seconds
            delay = interval if delay is None else min(delay, interval)
        if delay is None:
            self.due.pop(key, None)
        else:
            self.due[key] = time.monotonic() + delay

    def _worth_writing(
        self, key: tuple[str, str], old: dict[str, Any], new: dict[str, Any]
    ) -> bool:
        """Any change but a message's numbers is written at once; those at most every
        `MESSAGE_REFRESH` (an unfinished job is reconciled again on the ticker)."""
        if _gist(old) != _gist(new):
            return True
        last = self._written_at.get(key)
        return last is None or self.clock() - last >= MESSAGE_REFRESH

    def _create_children(self, ref: JobRef, job: TrainingJob, attempt: int) -> bool:
        """Create whatever of the attempt's children is missing; True if a pod was created."""
        resolved = job.model_dump(mode="json", by_alias=True, exclude_none=True)
        resolved["metadata"] = {"name": ref.name, "namespace": ref.namespace, "uid": ref.uid}
        self.kube.apply_config_map(objects.spec_config_map(ref, resolved))
        if self.config.job_network_policy:
            self.kube.create_if_absent(objects.job_network_policy(ref))
        if job.spec.compute.workers > 1:
            self.kube.create_if_absent(objects.ray_token_secret(ref, secrets.token_urlsafe(32)))
            self.kube.create_if_absent(objects.head_service(ref, attempt, self.config))
        created = False
        queue = queue_name_of(resolved)
        for pod in pods.attempt_pods(ref, job.spec, attempt, self.config, queue):
            created |= self.kube.create_if_absent(pod)
        return created


def _gist(status: dict[str, Any]) -> dict[str, Any]:
    """The status with the numbers of its messages masked."""
    gist = {**status, "message": _NUMBERS.sub("#", str(status.get("message", "")))}
    gist["conditions"] = [
        {**c, "message": _NUMBERS.sub("#", str(c.get("message", "")))}
        for c in status.get("conditions") or []
    ]
    return gist


def resource_version(obj: dict[str, Any]) -> int | None:
    """The object's resourceVersion as a number (etcd's revision), None if it is not one."""
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


def _attempt_of(pod: dict[str, Any]) -> int:
    try:
        return int(pod["metadata"]["labels"][LABEL_ATTEMPT])
    except (KeyError, ValueError):
        return 0
