"""The one module that talks to the Kubernetes API server.

Everything the operator reads or writes goes through `Kube`: the TrainingJob and its status
subresource, its children (create-if-absent with deterministic names, so that a restart in
the middle of a reconcile never duplicates anything), deletions and Events. Tests of the
operator's logic need no API server; tests of this module use the dev cluster's.

`REACHABILITY` follows whether the API server answers: an outage is logged as one warning
when it begins and one when it ends; the calls that fail in between raise `Unreachable`,
which callers retry quietly (at debug level).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from kubetrain.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from kubetrain.builders import kueue, naming
from kubetrain.builders.naming import LABEL_ATTEMPT, LABEL_JOB, LABEL_ROLE, ROLE_WORKER, JobRef
from kubetrain.metrics import API_ERRORS

log = logging.getLogger("kubetrain.kube")
T = TypeVar("T")
FIELD_MANAGER = "kubetrain-operator"
UNAVAILABLE = (500, 502, 503, 504)
"""Statuses of an API server that cannot serve (e.g. etcd is down), as opposed to a refusal."""
BUSY = 429
"""Too many requests, or its storage still starting: it answers, retry later."""


class Unreachable(Exception):
    """The API server did not answer, or answered that it cannot serve: retry later."""


class Reachability:
    """Whether the API server answers. Logs one warning when it stops answering and one when
    it is back; what fails in between is logged at debug level by its callers. It is back once
    it has answered for `SETTLE_SECONDS` without a failure: an API server that shuts down or
    starts up answers some requests and fails others, and that is one outage, not several."""

    SETTLE_SECONDS = 5.0

    def __init__(self) -> None:
        self.down_since: float | None = None
        """When the current outage began; None while the API server answers."""
        self._answering_since: float | None = None
        self._lock = threading.Lock()

    def failed(self, why: str) -> None:
        with self._lock:
            self._answering_since = None
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.warning("the API server is unreachable (%s); retrying until it is back", why)
            else:
                log.debug("the API server is still unreachable: %s", why)

    def answered(self) -> None:
        if self.down_since is None:  # the common case, without the lock
            return
        with self._lock:
            if self.down_since is None:
                return
            now = time.monotonic()
            if self._answering_since is None:
                self._answering_since = now
            elif now - self._answering_since >= self.SETTLE_SECONDS:
                down = self._answering_since - self.down_since
                log.warning("the API server is reachable again after %.0f s", down)
                self.down_since = self._answering_since = None


REACHABILITY = Reachability()


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.networking = client.NetworkingV1Api(api)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run an API call; count its error, if any, under `what`."""
        return _counted(what, fn, ok=())

    def _call_unless(self, what: str, fn: Callable[[], T], ok: tuple[int, ...]) -> T | None:
        """Run an API call; None for the expected error statuses in `ok`."""
        try:
            return _counted(what, fn, ok)
        except ApiException as exc:
            if exc.status in ok:
                return None
            raise

    def ping(self) -> None:
        """Ask the API server for its version: `Unreachable` if it does not answer."""
        self._call("version", lambda: client.VersionApi(self.api).get_code())

    def wait_until_reachable(self, interval: float = 2.0) -> None:
        """Block until the API server answers (an outage is logged once, by REACHABILITY)."""
        while True:
            try:
                self.ping()
                return
            except Unreachable:
                time.sleep(interval)

    # --- the TrainingJob ----------------------------------------------------------------

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._call_unless(
            "get_job",
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            ),
            ok=(404,),
        )

    def patch_job_status(self, job: JobRef, status: dict[str, Any]) -> dict[str, Any] | None:
        """Merge-patch the status subresource (lists, e.g. conditions, are replaced whole);
        the job as written, None if it is gone."""
        return self._call_unless(
            "patch_status",
            lambda: self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                job.namespace,
                PLURAL,
                job.name,
                {"metadata": {"uid": job.uid}, "status": status},
                _content_type="application/merge-patch+json",
            ),
            ok=(404,),
        )

    def delete_job(self, job: JobRef) -> None:
        self._call_unless(
            "delete_job",
            lambda: self.custom.delete_namespaced_custom_object(
                GROUP,
                VERSION,
                job.namespace,
                PLURAL,
                job.name,
                body=client.V1DeleteOptions(
                    propagation_policy="Background", preconditions={"uid": job.uid}
                ),
            ),
            ok=(404, 409),
        )

    # --- children -----------------------------------------------------------------------

    def job_pods(self, job: JobRef) -> list[dict[str, Any]]:
        """Every pod of every attempt of the job (that the job owns)."""
        selector = f"{LABEL_JOB}={job.name}"
        # Plain JSON: the client's V1Pod models cost more CPU than the rest of a reconcile.
        response = self._call(
            "list_pods",
            lambda: self.core.list_namespaced_pod(
                job.namespace, label_selector=selector, _preload_content=False
            ),
        )
        body = response.data
        response.release_conn()
        pods: list[dict[str, Any]] = json.loads(body)["items"]
        return [p for p in pods if _owned_by(p["metadata"], job)]

    def create_if_absent(self, obj: dict[str, Any]) -> bool:
        """Create `obj`; False if it already exists (the name is deterministic)."""
        kind, ns = obj["kind"], obj["metadata"]["namespace"]
        create = {
            "Pod": self.core.create_namespaced_pod,
            "Service": self.core.create_namespaced_service,
            "Secret": self.core.create_namespaced_secret,
            "ConfigMap": self.core.create_namespaced_config_map,
            "NetworkPolicy": self.networking.create_namespaced_network_policy,
        }[kind]
        # The response is not read: as a client model it costs more CPU than the request.
        created = self._call_unless(
            f"create_{kind.lower()}",
            lambda: _drained(create(ns, obj, _preload_content=False)),
            ok=(409,),
        )
        return created is not None

    def apply_config_map(self, obj: dict[str, Any]) -> None:
        """Server-side apply, so that a changed resolved spec is written and nothing else."""
        self._call(
            "apply_configmap",
            lambda: _drained(
                self.core.patch_namespaced_config_map(
                    obj["metadata"]["name"],
                    obj["metadata"]["namespace"],
                    obj,
                    field_manager=FIELD_MANAGER,
                    force=True,
                    _content_type="application/apply-patch+yaml",
                    _preload_content=False,
                )
            ),
        )

    def delete_attempt_pods(
        self, job: JobRef, attempt: int, *, workers_only: bool = False, running_only: bool = False
    ) -> None:
        """Delete the attempt's pods gracefully (SIGTERM first: the trainer checkpoints).

        `running_only` keeps pods that have already terminated, for their logs.
        """
        selector = f"{LABEL_JOB}={job.name},{LABEL_ATTEMPT}={attempt}"
        if workers_only:
            selector += f",{LABEL_ROLE}={ROLE_WORKER}"
        fields = "status.phase!=Succeeded,status.phase!=Failed" if running_only else None
        self._call(
            "delete_pods",
            lambda: self.core.delete_collection_namespaced_pod(
                job.namespace, label_selector=selector, field_selector=fields
            ),
        )
        if not workers_only:
            self._call_unless(
                "delete_service",
                lambda: self.core.delete_namespaced_service(
                    naming.service(job, attempt), job.namespace
                ),
                ok=(404,),
            )

    # --- secrets ------------------------------------------------------------------------

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """The decoded data of a Secret; KeyError if it does not exist.

        Only for the artifact store's credentials, which the operator reads as the job's
        pods do (RBAC: get secrets).
        """
        secret = self._call_unless(
            "get_secret", lambda: self.core.read_namespaced_secret(name, namespace), ok=(404,)
        )
        if secret is None:
            raise KeyError(f"Secret {namespace}/{name} does not exist")
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    # --- Kueue --------------------------------------------------------------------------

    def get_workload(self, namespace: str, name: str) -> dict[str, Any] | None:
        """Kueue's Workload of a queued attempt's pod group (named like the group); None if
        it does not exist (yet), or this operator may not read Workloads."""
        return self._call_unless(
            "get_workload",
            lambda: self.custom.get_namespaced_custom_object(
                kueue.WORKLOAD_GROUP,
                kueue.WORKLOAD_VERSION,
                namespace,
                kueue.WORKLOAD_PLURAL,
                name,
            ),
            ok=(403, 404),
        )

    # --- events -------------------------------------------------------------------------

    def event(self, job: JobRef, kind: str, reason: str, message: str) -> None:
        now = dt.datetime.now(dt.UTC)
        body = {
            "metadata": {"generateName": f"{job.name}.", "namespace": job.namespace},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": job.name,
                "namespace": job.namespace,
                "uid": job.uid,
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "kubetrain-operator"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "kubetrain.io/operator",
        }
        try:
            _counted(
                "create_event",
                lambda: _drained(
                    self.core.create_namespaced_event(job.namespace, body, _preload_content=False)
                ),
                (),
            )
        except ApiException as exc:  # an Event is best effort: never fail a reconcile for it
            log.warning("could not record event %s: %s", reason, exc.reason)


def _counted(what: str, fn: Callable[[], T], ok: tuple[int, ...]) -> T:
    """Run `fn`; count its error under `what`; raise `Unreachable` if the server is away."""
    try:
        result = fn()
    except ApiException as exc:
        if exc.status not in ok:
            API_ERRORS.labels(operation=what, code=str(exc.status)).inc()
        if exc.status in UNAVAILABLE:
            REACHABILITY.failed(f"{exc.status} {exc.reason}")
            raise Unreachable(f"{what}: {exc.status} {exc.reason}") from exc
        if exc.status == BUSY:
            raise Unreachable(f"{what}: {exc.status} {exc.reason}") from exc
        REACHABILITY.answered()
        raise
    except (HTTPError, OSError) as exc:
        API_ERRORS.labels(operation=what, code="unreachable").inc()
        REACHABILITY.failed(type(exc).__name__)
        raise Unreachable(f"{what}: {exc}") from exc
    REACHABILITY.answered()
    return result


def _drained(response: Any) -> bool:
    """Read an unparsed response to its end, so that its connection goes back to the pool."""
    response.read()
    response.release_conn()
    return True


def _owned_by(meta: dict[str, Any], job: JobRef) -> bool:
    return any(ref.get("uid") == job.uid for ref in meta.get("ownerReferences") or [])
