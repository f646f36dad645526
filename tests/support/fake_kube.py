"""An in-memory API server behind the operator's `Kube` seam, for the Reconciler's unit tests.

`FakeKube` keeps TrainingJobs and their children as dicts, answers the reads of `Kube` the way
the API server does (status merge patches, create-if-absent, deletes by label) and records
every write in `writes`, in order, so that a test can say what the operator did and when.
Nothing else is faked: the Reconciler, the state machine and the builders are the real ones.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.support.manifests import merge_patch

from kubetrain.builders import naming
from kubetrain.builders.naming import LABEL_ATTEMPT, LABEL_JOB, LABEL_ROLE, ROLE_WORKER, JobRef
from kubetrain.kube import Kube
from kubetrain.observe import POD_FAILED, POD_PENDING, POD_SUCCEEDED
from kubetrain.reports import ReportReader
from kubetrain.state import TrainerReport

Key = tuple[str, str, str]
"""(kind, namespace, name)."""


class FakeKube(Kube):
    """The `Kube` API in memory; `writes` lists (operation, detail) in the order they came."""

    def __init__(self) -> None:  # no API client: nothing here talks to a server
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []
        self.events: list[tuple[str, str]] = []
        """(reason, message) of every Event, in order."""

    # --- what a test sets up and looks at --------------------------------------------------

    def add_job(self, manifest: dict[str, Any], namespace: str, uid: str) -> JobRef:
        job = copy.deepcopy(manifest)
        job["metadata"].update(namespace=namespace, uid=uid, generation=1)
        self.objects[("TrainingJob", namespace, job["metadata"]["name"])] = job
        return JobRef(job["metadata"]["name"], namespace, uid)

    def job(self, ref: JobRef) -> dict[str, Any] | None:
        return self.objects.get(("TrainingJob", ref.namespace, ref.name))

    def names(self, kind: str) -> list[str]:
        return sorted(name for k, _, name in self.objects if k == kind)

    def set_pod_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.objects[("Pod", namespace, name)]["status"] = status

    # --- the Kube API ----------------------------------------------------------------------

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        job = self.objects.get(("TrainingJob", namespace, name))
        return copy.deepcopy(job) if job is not None else None

    def patch_job_status(self, job: JobRef, status: dict[str, Any]) -> dict[str, Any] | None:
        self.writes.append(("patch_status", str(status.get("phase"))))
        obj = self.job(job)
        if obj is not None and obj["metadata"]["uid"] == job.uid:
            obj["status"] = merge_patch(obj.get("status") or {}, status)
            return copy.deepcopy(obj)
        return None

    def delete_job(self, job: JobRef) -> None:
        self.writes.append(("delete_job", job.name))
        self.objects.pop(("TrainingJob", job.namespace, job.name), None)

    def job_pods(self, job: JobRef) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(obj)
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind == "Pod"
            and ns == job.namespace
            and obj["metadata"]["labels"].get(LABEL_JOB) == job.name
            and any(ref["uid"] == job.uid for ref in obj["metadata"]["ownerReferences"])
        ]

    def create_if_absent(self, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        key = (obj["kind"], meta["namespace"], meta["name"])
        if key in self.objects:
            return False
        self.writes.append((f"create_{obj['kind'].lower()}", meta["name"]))
        created = copy.deepcopy(obj)
        if obj["kind"] == "Pod":
            created["status"] = {"phase": POD_PENDING}
        self.objects[key] = created
        return True

    def apply_config_map(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.writes.append(("apply_configmap", meta["name"]))
        self.objects[("ConfigMap", meta["namespace"], meta["name"])] = copy.deepcopy(obj)

    def delete_attempt_pods(
        self, job: JobRef, attempt: int, *, workers_only: bool = False, running_only: bool = False
    ) -> None:
        self.writes.append(("delete_pods", f"attempt {attempt}"))
        for key, obj in list(self.objects.items()):
            labels = obj["metadata"].get("labels") or {}
            if (
                key[0] == "Pod"
                and key[1] == job.namespace
                and labels.get(LABEL_JOB) == job.name
                and labels.get(LABEL_ATTEMPT) == str(attempt)
                and (not workers_only or labels.get(LABEL_ROLE) == ROLE_WORKER)
                and not (running_only and obj["status"]["phase"] in (POD_SUCCEEDED, POD_FAILED))
            ):
                del self.objects[key]
        if not workers_only:
            self.objects.pop(("Service", job.namespace, naming.service(job, attempt)), None)

    def event(self, job: JobRef, kind: str, reason: str, message: str) -> None:
        self.events.append((reason, message))

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """The string data of a Secret the test created; KeyError if there is none."""
        secret = self.objects.get(("Secret", namespace, name))
        if secret is None:
            raise KeyError(f"Secret {namespace}/{name} does not exist")
        return dict(secret.get("stringData") or {})

    def get_workload(self, namespace: str, name: str) -> dict[str, Any] | None:
        """No Kueue here: no Workload."""
        return None


class NoReports(ReportReader):
    """A store in which the trainer has written nothing yet."""

    def __init__(self) -> None:  # no store to connect to
        pass

    def read(self, *_: Any, **__: Any) -> TrainerReport:
        return TrainerReport()
