"""The pod contract: every fact the operator and the trainer share, written once.

The operator builds pods that set these environment variables, mount the spec at `SPEC_PATH`
and read what the trainer writes under the attempt's prefix (`attempt_prefix`); the trainer,
its bring-your-own-code helper and `kubetrain run` read the same names from here. Nothing
else in either package spells an env var name, an artifact file name or an exit code: a test
greps for stray literals.

Layout of the artifact store (root = `spec.output.uri`, else the operator's store):

    <root>/<namespace>/<job>/                      the job: every attempt, tuning trials
    <root>/<namespace>/<job>/<attempt>/            one attempt's artifacts
        progress.json  metrics.json  metadata.json  spec.json  report.html  stop
        model/  checkpoints/  output/
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

ENV_PREFIX: Final = "KUBETRAIN_"


class Env:
    """Environment variables of trainer containers (and of the user's command).

    Plain strings (not an Enum), so that built objects serialise as they are.
    """

    SPEC: Final = "KUBETRAIN_SPEC"
    JOB_NAME: Final = "KUBETRAIN_JOB_NAME"
    NAMESPACE: Final = "KUBETRAIN_NAMESPACE"
    ATTEMPT: Final = "KUBETRAIN_ATTEMPT"
    OUTPUT_URI: Final = "KUBETRAIN_OUTPUT_URI"
    """The root of the artifact store; the attempt writes below <ns>/<job>/<attempt>."""
    S3_ENDPOINT: Final = "KUBETRAIN_S3_ENDPOINT"
    S3_RETRY_SECONDS: Final = "KUBETRAIN_S3_RETRY_SECONDS"
    """How long the trainer retries S3 while it is unreachable (default 120 s)."""
    DATA_S3_ENDPOINT: Final = "KUBETRAIN_DATA_S3_ENDPOINT"
    DATA_ACCESS_KEY_ID: Final = "KUBETRAIN_DATA_AWS_ACCESS_KEY_ID"
    DATA_SECRET_ACCESS_KEY: Final = "KUBETRAIN_DATA_AWS_SECRET_ACCESS_KEY"
    TERMINATION_LOG: Final = "KUBETRAIN_TERMINATION_LOG"
    TORCH_THREADS: Final = "KUBETRAIN_TORCH_THREADS"
    # What the trainer gives the user's own command (bring-your-own code).
    TASK: Final = "KUBETRAIN_TASK"
    TARGET: Final = "KUBETRAIN_TARGET"
    OBJECTIVE_METRIC: Final = "KUBETRAIN_OBJECTIVE_METRIC"
    DATASET: Final = "KUBETRAIN_DATASET"
    DATA_URI: Final = "KUBETRAIN_DATA_URI"
    EPOCHS: Final = "KUBETRAIN_EPOCHS"
    OUTPUT_DIR: Final = "KUBETRAIN_OUTPUT_DIR"
    ARTIFACT_URI: Final = "KUBETRAIN_ARTIFACT_URI"
    CHECKPOINT_URI: Final = "KUBETRAIN_CHECKPOINT_URI"
    JOB_URI: Final = "KUBETRAIN_JOB_URI"
    METRICS_FILE: Final = "KUBETRAIN_METRICS_FILE"
    # Standard names the pods also get.
    POD_IP: Final = "POD_IP"
    AWS_ACCESS_KEY_ID: Final = "AWS_ACCESS_KEY_ID"
    AWS_SECRET_ACCESS_KEY: Final = "AWS_SECRET_ACCESS_KEY"
    AWS_REGION: Final = "AWS_REGION"
    RAY_ADDRESS: Final = "RAY_ADDRESS"
    RAY_JOB_CONFIG: Final = "RAY_JOB_CONFIG_JSON_ENV_VAR"
    """Ray's job config for a driver: the user's Ray tasks on every pod get the job's env."""


SPEC_MOUNT = "/etc/kubetrain"
SPEC_FILE = "spec.json"
SPEC_PATH = f"{SPEC_MOUNT}/{SPEC_FILE}"
SCRATCH = "/tmp/kubetrain"
"""The pod's private scratch space (an emptyDir): HOME, TMPDIR and Ray's session files."""
TERMINATION_LOG = "/dev/termination-log"
TRAINER_COMMAND = ("python", "-m", "kubetrain_trainer")
"""Every trainer container's driver, built-in model or bring-your-own code alike."""
STOP_COMMAND = ("python", "-m", "kubetrain_trainer.stop")
"""What a Ray worker pod runs on SIGTERM: writes `Files.STOP`, so every rank checkpoints."""
METRICS_LINE_PREFIX = '{"kubetrain": "metrics"'
"""How a line of the user's stdout that reports metrics starts (see the trainer's helper)."""


class Files:
    """File and folder names under an attempt's prefix."""

    PROGRESS: Final = "progress.json"
    METRICS: Final = "metrics.json"
    METADATA: Final = "metadata.json"
    SPEC: Final = "spec.json"
    REPORT: Final = "report.html"
    STOP: Final = "stop"
    """Written when any pod of the attempt got SIGTERM: every rank checkpoints and stops."""
    MODEL: Final = "model"
    MODEL_INDEX: Final = "model.json"
    """In `model/`: what the model is; uploaded last, it commits the model's other files."""
    CHECKPOINTS: Final = "checkpoints"
    OUTPUT: Final = "output"
    TUNING: Final = "tuning"
    """Under the job's prefix: Ray Tune's experiment storage, shared by every attempt."""


def job_prefix(root: str, namespace: str, job: str) -> str:
    return f"{root.rstrip('/')}/{namespace}/{job}"


def attempt_prefix(root: str, namespace: str, job: str, attempt: int | str) -> str:
    """Where one attempt writes; ends with a slash, as status.artifactUri shows it."""
    return f"{job_prefix(root, namespace, job)}/{attempt}/"


class ExitCode(enum.IntEnum):
    """The trainer's exit codes and what the operator does with each."""

    SUCCEEDED = 0
    INTERNAL = 1
    """A bug or a transient fault: another attempt may help."""
    INVALID_INPUT = 2
    """Invalid spec or unusable data: no retry."""
    STORAGE_DENIED = 3
    """The S3 store denied access: no retry."""
    USER_CODE_FAILED = 4
    """The user's own command exited non-zero: retried like any failure."""
    INTERRUPTED = 143
    """128 + SIGTERM: a checkpoint was written, the next attempt resumes."""

    @property
    def retryable(self) -> bool:
        return self not in (ExitCode.INVALID_INPUT, ExitCode.STORAGE_DENIED)

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.SUCCEEDED: "finished",
    ExitCode.INTERNAL: "internal error",
    ExitCode.INVALID_INPUT: "invalid spec or unusable data",
    ExitCode.STORAGE_DENIED: "the S3 store denied access",
    ExitCode.USER_CODE_FAILED: "your command failed",
    ExitCode.INTERRUPTED: "stopped by SIGTERM after a checkpoint",
}


def permanent_failure(code: int | None) -> str | None:
    """The meaning of an exit code that no retry can fix, else None."""
    try:
        exit_code = ExitCode(code if code is not None else -1)
    except ValueError:
        return None
    return None if exit_code.retryable else exit_code.meaning


# --- the files the operator reads -----------------------------------------------------------


class _File(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class MetricValue(_File):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    value: float


class HealthFinding(_File):
    """A training-health finding: overfitting, NaN loss, vanishing gradients, ..."""

    reason: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=64)]
    message: Annotated[str, Field(max_length=1024)]


class ProgressFile(_File):
    """`progress.json`, overwritten while the attempt runs."""

    stage: str = "starting"
    completed: Annotated[int, Field(ge=0)] | None = None
    total: Annotated[int, Field(ge=0)] | None = None
    unit: str | None = None
    summary: Annotated[str, Field(max_length=64)] | None = None
    percent: float | None = None
    best_metric: MetricValue | None = None
    message: str | None = None
    attempt: str | None = None
    time: float | None = None
    health: list[HealthFinding] = Field(default_factory=list)


class ObjectiveResult(_File):
    metric: str
    value: float | None = None
    threshold: float | None = None
    direction: str = "maximize"
    passed: bool | None = None
    """None when there is no value or no threshold: no verdict without evidence."""


class MetricsFile(_File):
    """`metrics.json`, written once at the end of a successful attempt."""

    task: str = ""
    test: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    cross_validation: dict[str, Any] | None = None
    objective: ObjectiveResult
    warnings: list[str] = Field(default_factory=list)
    classes: list[str] | None = None
    health: list[HealthFinding] = Field(default_factory=list)


M = TypeVar("M", bound=_File)


def parse_file(model: type[M], raw: Any) -> M | None:
    """A contract file from its decoded JSON, or None if it does not follow the contract."""
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None
