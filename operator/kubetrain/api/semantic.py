"""Operator-side checks of what the CRD schema cannot express.

The API server rejects malformed manifests at `kubectl apply`. Some problems need knowledge
it does not have: the catalogue's hyperparameters and their types, and the compute profiles of
the operator's configuration. `check_training_job` finds them *all* at once; the operator then
puts the job in phase Failed with reason `InvalidSpec` and a message listing every problem,
never retrying (nothing changes until the spec does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubetrain.api.catalogue import (
    CLASSIFICATION_TASKS,
    DATASETS,
    METRICS,
    MODELS,
    TRAINING_HYPERPARAMETERS,
    Hyperparameter,
)
from kubetrain.api.compute import ComputeProfile, placement_profile
from kubetrain.api.enums import ClassWeights, DomainType, Scheduler, SearchAlgorithm
from kubetrain.api.job import KUEUE_QUEUE_LABEL, TrainingJob, TrainingJobSpec
from kubetrain.api.tuning import SearchDomain

REASON_INVALID_SPEC = "InvalidSpec"
"""The condition reason (and phase-Failed reason) for a spec that fails these checks."""


@dataclass(frozen=True)
class FieldError:
    """One problem, named by the path of the field it is about (`spec.tuning.maxTrials`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Context:
    """What the checks know beyond the spec: the operator's compute profiles."""

    profiles: Mapping[str, ComputeProfile]
    default_profile: str | None = None


def check_training_job(
    obj: Mapping[str, Any],
    profiles: Mapping[str, ComputeProfile],
    default_profile: str | None = None,
) -> tuple[TrainingJob | None, list[FieldError]]:
    """Parse a TrainingJob (a dict as read from the API server) and check it.

    Returns the parsed job (None when it does not parse) and every problem found.
    """
    try:
        job = TrainingJob.model_validate(obj, by_alias=True, by_name=False)
    except ValidationError as error:
        return None, field_errors(error)
    errors = validate_semantics(job.spec, profiles, default_profile)
    return job, errors + _queue_label_agrees(job)


def _queue_label_agrees(job: TrainingJob) -> list[FieldError]:
    """spec.runPolicy.queueName and the label kueue.x-k8s.io/queue-name name the same queue."""
    label = job.metadata.labels.get(KUEUE_QUEUE_LABEL)
    queue = job.spec.run_policy.queue_name
    if label is None or queue is None or label == queue:
        return []
    message = f"is {queue!r} but the label {KUEUE_QUEUE_LABEL} says {label!r}; set one"
    return [FieldError("spec.runPolicy.queueName", message)]


def validate_semantics(
    spec: TrainingJobSpec,
    profiles: Mapping[str, ComputeProfile],
    default_profile: str | None = None,
) -> list[FieldError]:
    """Every problem of a parsed spec that only the operator can see, in spec order."""
    context = Context(profiles, default_profile)
    return [error for check in CHECKS for error in check(spec, context)]


def field_errors(error: ValidationError) -> list[FieldError]:
    """pydantic's errors as field paths: `spec.tuning.searchSpace.lr.low`, `...env[0].name`."""
    return [FieldError(_path(e["loc"]), e["msg"]) for e in error.errors(include_url=False)]


def invalid_spec_message(errors: Sequence[FieldError]) -> str:
    """The message of an InvalidSpec condition: every problem, one after another."""
    count = f"{len(errors)} problem" + ("s" if len(errors) != 1 else "")
    return f"{count}: " + "; ".join(str(e) for e in errors)


def _path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


Check = Callable[[TrainingJobSpec, Context], Iterator[FieldError]]


def hyperparameters_known(spec: TrainingJobSpec, _: Context) -> Iterator[FieldError]:
    """Hyperparameters are ones the built-in model accepts, with values of the right type."""
    if spec.model.builtin is None:
        return
    name = spec.model.builtin.name
    accepted = MODELS[name].hyperparameters
    for key, value in spec.model.builtin.hyperparameters.items():
        path = f"spec.model.builtin.hyperparameters.{key}"
        if key not in accepted:
            yield FieldError(
                path, f"{name} has no such hyperparameter; it accepts {', '.join(accepted)}"
            )
        elif problem := accepted[key].problem(value):
            yield FieldError(path, problem)


def search_space_fits(spec: TrainingJobSpec, _: Context) -> Iterator[FieldError]:
    """Search-space keys are the model's hyperparameters (or training fields of a network), and
    each domain fits its hyperparameter's type and bounds."""
    if spec.tuning is None or spec.model.builtin is None:
        return
    model = MODELS[spec.model.builtin.name]
    tunable = dict(model.hyperparameters)
    if model.is_network:
        tunable.update(TRAINING_HYPERPARAMETERS)
    for key, domain in spec.tuning.search_space.items():
        path = f"spec.tuning.searchSpace.{key}"
        if key not in tunable:
            yield FieldError(
                path, f"not tunable for {spec.model.builtin.name}; tunable: {', '.join(tunable)}"
            )
        else:
            yield from _domain_problems(path, domain, tunable[key])


def _domain_problems(
    path: str, domain: SearchDomain, param: Hyperparameter
) -> Iterator[FieldError]:
    if domain.type == DomainType.CHOICE:
        for i, value in enumerate(domain.values or ()):
            if problem := param.problem(value):
                yield FieldError(f"{path}.values[{i}]", problem)
        return
    numeric = {"float": ("uniform", "loguniform", "int"), "int": ("int",)}.get(param.type, ())
    if domain.type not in numeric:
        hint = "int" if param.type == "int" else "choice"
        yield FieldError(
            f"{path}.type", f"{domain.type} does not fit {param.type} hyperparameters; use {hint}"
        )
        return
    if param.low is not None and domain.low is not None and domain.low < param.low:
        yield FieldError(f"{path}.low", f"must be at least {param.low:g}")
    if param.high is not None and domain.high is not None and domain.high > param.high:
        yield FieldError(f"{path}.high", f"must be at most {param.high:g}")


def grid_fits_trials(spec: TrainingJobSpec, _: Context) -> Iterator[FieldError]:
    """A grid search's combinations fit within maxTrials."""
    tuning = spec.tuning
    if tuning is None or tuning.algorithm != SearchAlgorithm.GRID:
        return
    size = tuning.grid_size
    if size is not None and size > tuning.max_trials:
        yield FieldError(
            "spec.tuning.maxTrials",
            f"the grid has {size} combinations, more than maxTrials ({tuning.max_trials})",
        )


def scheduler_has_epochs(spec: TrainingJobSpec, _: Context) -> Iterator[FieldError]:
    """An early-stopping scheduler needs a network trained in epochs, and epochs beyond the
    grace period."""
    tuning, training = spec.tuning, spec.model.resolved_training
    if tuning is None or tuning.scheduler == Scheduler.NONE:
        return
    if training is None:
        yield FieldError(
            "spec.tuning.scheduler",
            f"{tuning.scheduler} needs a model trained in epochs (a PyTorch network)",
        )
    elif tuning.grace_period >= training.epochs:
        yield FieldError("spec.tuning.gracePeriod", f"must be less than epochs ({training.epochs})")


def profile_exists(spec: TrainingJobSpec, context: Context) -> Iterator[FieldError]:
    """The compute profile exists (or the operator has a default), and has the GPUs asked for."""
    compute = spec.compute
    name = placement_profile(compute, context.profiles, context.default_profile)
    known = ", ".join(sorted(context.profiles)) or "none"
    if compute.resources is not None:
        if compute.gpus_per_worker and name is None:
            yield FieldError(
                "spec.compute.gpusPerWorker",
                f"no compute profile offers GPUs to place the pods on; profiles: {known}",
            )
        return
    if name is None:
        yield FieldError(
            "spec.compute.profile",
            f"is required: the operator has no default profile; profiles: {known}",
        )
        return
    profile = context.profiles.get(name)
    if profile is None:
        yield FieldError(
            "spec.compute.profile", f"no compute profile named {name!r}; profiles: {known}"
        )
    elif (compute.gpus_per_worker or 0) > profile.gpus:
        has = f"{profile.gpus} GPUs per worker" if profile.gpus else "no GPUs"
        yield FieldError("spec.compute.gpusPerWorker", f"profile {name!r} has {has}")


def gpus_are_used(spec: TrainingJobSpec, _: Context) -> Iterator[FieldError]:
    """GPUs are asked for only by models that use them (networks, LightGBM, XGBoost)."""
    builtin = spec.model.builtin
    if builtin is not None and not MODELS[builtin.name].gpu and spec.compute.gpus_per_worker:
        users = ", ".join(str(name) for name, model in MODELS.items() if model.gpu)
        yield FieldError(
            "spec.compute.gpusPerWorker",
            f"{builtin.name} runs on CPUs; models that use GPUs: {users}",
        )


def class_weights_apply(spec: TrainingJobSpec, _: Context) -> Iterator[FieldError]:
    """Balanced class weights need a classification task and a model that takes row weights."""
    if spec.preparation.class_weights == ClassWeights.NONE:
        return
    path = "spec.preparation.classWeights"
    if spec.problem.task not in CLASSIFICATION_TASKS:
        yield FieldError(path, "applies to classification tasks only")
    builtin = spec.model.builtin
    if builtin is not None and not MODELS[builtin.name].sample_weights:
        weighted = [str(n) for n, m in MODELS.items() if m.sample_weights]
        yield FieldError(
            path,
            f"{builtin.name} does not train with row weights; models that do: "
            + ", ".join(weighted),
        )


def dataset_columns(spec: TrainingJobSpec, _: Context) -> Iterator[FieldError]:
    """With a built-in dataset, target and timeColumn name its columns."""
    if spec.data.dataset is None:
        return
    info = DATASETS[spec.data.dataset]
    if spec.problem.target != info.target:
        yield FieldError(
            "spec.problem.target", f"dataset {spec.data.dataset}'s target column is {info.target!r}"
        )
    if spec.problem.time_column is not None and spec.problem.time_column != info.time_column:
        yield FieldError(
            "spec.problem.timeColumn",
            f"dataset {spec.data.dataset}'s time column is {info.time_column!r}",
        )


def threshold_reachable(spec: TrainingJobSpec, _: Context) -> Iterator[FieldError]:
    """The success threshold lies within the range of the metric's values."""
    objective = spec.problem.objective
    info = METRICS[objective.metric]
    value = objective.threshold
    if value is None:
        return
    if (info.low is not None and value < info.low) or (info.high is not None and value > info.high):
        low = "-inf" if info.low is None else f"{info.low:g}"
        high = "inf" if info.high is None else f"{info.high:g}"
        yield FieldError(
            "spec.problem.objective.threshold",
            f"{objective.metric} lies in [{low}, {high}]; {value:g} can never be met",
        )


CHECKS: tuple[Check, ...] = (
    dataset_columns,
    threshold_reachable,
    class_weights_apply,
    hyperparameters_known,
    profile_exists,
    gpus_are_used,
    search_space_fits,
    grid_fits_trials,
    scheduler_has_epochs,
)
"""Every semantic check, in the order of the spec's sections."""
