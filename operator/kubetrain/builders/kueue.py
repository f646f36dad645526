"""Kueue's names, and the labels that make an attempt's pods one Kueue pod group.

A queued job (spec.runPolicy.queueName, or the label kueue.x-k8s.io/queue-name on the job)
puts every pod of an attempt in one plain-pod group
(https://kueue.sigs.k8s.io/docs/tasks/run/plain_pods/): the same queue and group name labels
and the group's size on each pod. Kueue's webhook gates the pods; Kueue admits the group as
one Workload (named like the group) when the LocalQueue's ClusterQueue has quota for all of
them, and only then ungates them, so no partial Ray cluster ever holds GPUs.
"""

from __future__ import annotations

from typing import Final

from kubetrain.api import KUEUE_QUEUE_LABEL
from kubetrain.builders.naming import JobRef, attempt_prefix

QUEUE_LABEL: Final = KUEUE_QUEUE_LABEL
GROUP_LABEL: Final = "kueue.x-k8s.io/pod-group-name"
GROUP_TOTAL_COUNT_ANNOTATION: Final = "kueue.x-k8s.io/pod-group-total-count"
RETRIABLE_IN_GROUP_ANNOTATION: Final = "kueue.x-k8s.io/retriable-in-group"
"""'false': a failed pod is not replaced within the group, so the group (and its quota) ends
when no pod is left running; the operator retries with a new attempt, a new group."""
ADMISSION_GATE: Final = "kueue.x-k8s.io/admission"
"""The scheduling gate Kueue's webhook puts on a queued pod and lifts at admission."""

WORKLOAD_GROUP: Final = "kueue.x-k8s.io"
WORKLOAD_VERSION: Final = "v1beta2"
WORKLOAD_PLURAL: Final = "workloads"


def group_name(job: JobRef, attempt: int) -> str:
    """The attempt's pod group, and so the name of its Kueue Workload: `<job>-a<attempt>`."""
    return attempt_prefix(job, attempt)


def pod_group(queue: str, group: str, size: int) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) that put a pod in the Kueue pod group `group` of `size` pods."""
    labels = {QUEUE_LABEL: queue, GROUP_LABEL: group}
    annotations = {GROUP_TOTAL_COUNT_ANNOTATION: str(size), RETRIABLE_IN_GROUP_ANNOTATION: "false"}
    return labels, annotations
