"""The TrainingJob resource: its identity, the spec sections, the output and the run policy.

Spec-level rules relate sections to each other: the model, loss and dataset must serve the
task. Once a job has started (`status.startTime` is set) its spec is frozen except for the
fields in `MUTABLE_FIELDS`; the CRD enforces that with a transition rule (see `crdgen`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import Field, StringConstraints

from kubetrain.api.base import (
    ApiModel,
    Bool,
    Count,
    Label,
    ObjectName,
    Rule,
    S3Uri,
    Seconds,
    cel_list,
    cel_table,
    defaulted,
)
from kubetrain.api.catalogue import (
    CLASSIFICATION_TASKS,
    DATASETS_BY_TASK,
    LOSSES_BY_TASK,
    MODELS_BY_TASK,
)
from kubetrain.api.compute import ComputeSpec
from kubetrain.api.data import DataSpec, S3Access
from kubetrain.api.enums import MissingStrategy, Task
from kubetrain.api.model import ModelSpec
from kubetrain.api.preparation import Preparation
from kubetrain.api.problem import Problem
from kubetrain.api.status import TrainingJobStatus
from kubetrain.api.tuning import Tuning

GROUP = "kubetrain.io"
VERSION = "v1alpha1"
API_VERSION: Final = "kubetrain.io/v1alpha1"
KIND: Final = "TrainingJob"
PLURAL = "trainingjobs"
SINGULAR = "trainingjob"
SHORT_NAMES = ("tj",)
CATEGORIES = ("kubetrain",)

MAX_ATTEMPTS = 101
"""backoffLimit is at most 100, so attempts count up to 101."""
MAX_WORKERS = 64
LONGEST_CHILD_SUFFIX = f"-a{MAX_ATTEMPTS}-worker-{MAX_WORKERS - 1}"
MAX_NAME_LENGTH = 63 - len(LONGEST_CHILD_SUFFIX) - 6
"""Children are named `<job>-a<attempt>-head`, `<job>-a<attempt>-worker-<i>` and the Service
`<job>-a<attempt>`, which must stay DNS-1035 labels (63 characters); 6 more are kept for
suffixes that controllers add (a Job's pods)."""
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""DNS-1035: the job's name starts the names of Services."""

MUTABLE_FIELDS = (
    "runPolicy.suspend",
    "runPolicy.activeDeadlineSeconds",
    "runPolicy.ttlSecondsAfterFinished",
)
"""The only spec fields that may change once the job has started."""

KUEUE_QUEUE_LABEL: Final = "kueue.x-k8s.io/queue-name"
"""Kueue's label naming a LocalQueue; on a TrainingJob it is the same as runPolicy.queueName."""


class Output(ApiModel):
    """Where artifacts go (model, metrics, report, checkpoints) and how often to checkpoint."""

    uri: S3Uri | None = None
    """An S3 prefix for the artifacts. Defaults to the operator's store, under
    <namespace>/<name>/."""
    s3: S3Access | None = None
    """How to reach that store; the operator's store when unset."""
    checkpoint_every_epochs: Count = 1
    """Checkpoint every this many epochs (PyTorch networks; estimators checkpoint per trial)."""
    checkpoints_to_keep: Annotated[int, Field(strict=True, ge=1, le=100)] = 2
    """The most recent checkpoints kept per trial."""

    rules = (
        Rule(
            cel="!has(self.s3) || has(self.uri)",
            message="a store of your own needs an explicit uri",
            holds=lambda o: o.s3 is None or o.uri is not None,
            field=".uri",
        ),
    )


class RunPolicy(ApiModel):
    """Retries, deadlines, clean-up and suspension; the fields in runPolicy mirror a Job's."""

    backoff_limit: Annotated[int, Field(strict=True, ge=0, le=MAX_ATTEMPTS - 1)] = 3
    """Retries after failed attempts; each resumes from the last checkpoint."""
    active_deadline_seconds: Seconds | None = None
    """Fail the job once it has run this long, across attempts. May change after start."""
    ttl_seconds_after_finished: Annotated[int, Field(strict=True, ge=0, le=31_536_000)] | None = (
        None
    )
    """Delete the job this long after it finished. May change after start."""
    suspend: Bool = False
    """Stop the job's pods, keeping checkpoints; unsuspending resumes. May change after start."""
    queue_name: Label | None = None
    """The Kueue LocalQueue, in the job's namespace, that admits the job. Each attempt's pods
    then form one Kueue pod group, admitted as a single Workload (all pods or none); the job
    stays Pending with the condition Queued while it waits. The label
    kueue.x-k8s.io/queue-name on the job does the same."""
    priority_class_name: ObjectName | None = None
    """The PriorityClass of the job's pods; under Kueue it also orders admission (higher
    first)."""


def queue_name_of(obj: Mapping[str, Any]) -> str | None:
    """The Kueue LocalQueue of a TrainingJob (as the API server returns it, or dumped by alias):
    spec.runPolicy.queueName, else the label kueue.x-k8s.io/queue-name; None if not queued."""
    run_policy = (obj.get("spec") or {}).get("runPolicy") or {}
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return run_policy.get("queueName") or labels.get(KUEUE_QUEUE_LABEL) or None


def _per_task(what: str, table: dict[str, list[str]]) -> str:
    lines = "; ".join(f"{task}: {', '.join(names)}" for task, names in table.items())
    return f"does not serve the task; {what} per task: {lines}"


AUTO_TASKS = (str(Task.CLASSIFICATION), str(Task.REGRESSION), str(Task.FORECASTING))
"""The tasks automatic model selection serves."""

_CLASSIFICATION = cel_list(task for task in Task if task in CLASSIFICATION_TASKS)


class TrainingJobSpec(ApiModel):
    """The desired training job: problem, data, preparation, model, compute, tuning, output."""

    problem: Problem
    """What to learn."""
    data: DataSpec
    """Where the data comes from."""
    preparation: Preparation = defaulted(Preparation)
    """How the data is prepared."""
    model: ModelSpec
    """The model to train."""
    compute: ComputeSpec = defaulted(ComputeSpec)
    """Where and how wide the job runs."""
    tuning: Tuning | None = None
    """Hyperparameter search; a single training run when unset."""
    output: Output = defaulted(Output)
    """Where artifacts go."""
    run_policy: RunPolicy = defaulted(RunPolicy)
    """Retries, deadlines, clean-up and suspension."""

    rules = (
        Rule(
            cel="!has(self.model.builtin) || "
            f"self.model.builtin.name in {cel_table(MODELS_BY_TASK)}[self.problem.task]",
            message=_per_task("models", MODELS_BY_TASK),
            holds=lambda s: (
                s.model.builtin is None or s.model.builtin.name in MODELS_BY_TASK[s.problem.task]
            ),
            field=".model.builtin.name",
        ),
        Rule(
            cel="!has(self.model.auto) || self.model.auto.models.all(m, "
            f"m in {cel_table(MODELS_BY_TASK)}[self.problem.task])",
            message=_per_task("models", MODELS_BY_TASK),
            holds=lambda s: (
                s.model.auto is None
                or all(m in MODELS_BY_TASK[s.problem.task] for m in s.model.auto.models)
            ),
            field=".model.auto.models",
        ),
        Rule(
            cel=f"!has(self.model.auto) || self.problem.task in {cel_list(AUTO_TASKS)}",
            message="automatic model selection serves "
            + ", ".join(AUTO_TASKS)
            + " (text and images are prepared per model)",
            holds=lambda s: s.model.auto is None or s.problem.task in AUTO_TASKS,
            field=".model.auto",
        ),
        Rule(
            cel="!has(self.model.training) || !has(self.model.training.loss) || "
            f"self.model.training.loss in {cel_table(LOSSES_BY_TASK)}[self.problem.task]",
            message=_per_task("losses", LOSSES_BY_TASK),
            holds=lambda s: (
                s.model.training is None
                or s.model.training.loss is None
                or s.model.training.loss in LOSSES_BY_TASK[s.problem.task]
            ),
            field=".model.training.loss",
        ),
        Rule(
            cel="!has(self.data.dataset) || "
            f"self.data.dataset in {cel_table(DATASETS_BY_TASK)}[self.problem.task]",
            message=_per_task("datasets", DATASETS_BY_TASK),
            holds=lambda s: (
                s.data.dataset is None or s.data.dataset in DATASETS_BY_TASK[s.problem.task]
            ),
            field=".data.dataset",
        ),
        Rule(
            cel=f"self.problem.task in {_CLASSIFICATION} || !("
            "(has(self.preparation.split) && self.preparation.split.stratify) || "
            "(has(self.preparation.crossValidation) && self.preparation.crossValidation.stratify))",
            message="stratify applies to classification tasks only",
            holds=lambda s: s.problem.task in CLASSIFICATION_TASKS or not s.preparation.stratify,
            field=".preparation",
        ),
        Rule(
            cel="self.problem.task == 'forecasting' || !has(self.preparation.missing.strategy) "
            "|| self.preparation.missing.strategy != 'interpolate'",
            message="interpolate applies to forecasting only",
            holds=lambda s: (
                s.problem.task == Task.FORECASTING
                or s.preparation.missing.strategy != MissingStrategy.INTERPOLATE
            ),
            field=".preparation.missing.strategy",
        ),
        Rule(
            cel="!has(self.tuning) || has(self.model.builtin)",
            message="tuning needs a built-in model; custom code can tune with the Ray cluster "
            "it is given, and automatic selection tunes by itself",
            holds=lambda s: s.tuning is None or s.model.builtin is not None,
            field=".tuning",
        ),
    )


class ObjectMeta(ApiModel):
    """The parts of Kubernetes object metadata the operator reads; the rest passes through."""

    model_config = {**ApiModel.model_config, "extra": "allow"}

    name: (
        Annotated[
            str,
            StringConstraints(strict=True, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN),
        ]
        | None
    ) = None
    """The job's name: a DNS-1035 label of at most MAX_NAME_LENGTH characters."""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class TrainingJob(ApiModel):
    """A TrainingJob resource: one manifest from data to verdict."""

    api_version: Literal["kubetrain.io/v1alpha1"] = API_VERSION
    kind: Literal["TrainingJob"] = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TrainingJobSpec
    status: TrainingJobStatus | None = None
