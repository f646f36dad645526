"""The trainer's error vocabulary; the exit codes are the pod contract's (`ExitCode`).

Every failure a user can fix (a bad manifest, a missing column, a denied bucket) is a
`TrainerError` with a one-paragraph message that names the problem; `__main__` prints it, writes
it to the pod's termination log and exits with the error's code. Anything else is a bug or a
transient fault and exits with `ExitCode.INTERNAL`, which the operator may retry.
"""

from __future__ import annotations

from kubetrain.api.contract import ExitCode


class TrainerError(Exception):
    """A failure with a message meant for the user."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSpecError(TrainerError):
    """The resolved TrainingJob spec asks for something the trainer cannot do."""

    exit_code = ExitCode.INVALID_INPUT


class DataError(TrainerError):
    """The data cannot be used as declared: unreadable, empty, missing the target, ..."""

    exit_code = ExitCode.INVALID_INPUT


class StorageAccessError(TrainerError):
    """S3 refused the request (credentials, permissions, missing bucket)."""

    exit_code = ExitCode.STORAGE_DENIED


class StorageUnreachableError(TrainerError):
    """S3 stayed unreachable (or kept failing with 5xx) through every retry: a transient fault,
    so the operator may retry the attempt, which resumes from its last checkpoint."""

    exit_code = ExitCode.INTERNAL


class Interrupted(TrainerError):
    """SIGTERM arrived; a checkpoint was written before raising this."""

    exit_code = ExitCode.INTERRUPTED


class UserCodeError(TrainerError):
    """The user's own command (bring-your-own code) exited non-zero."""

    exit_code = ExitCode.USER_CODE_FAILED
