"""`python -m kubetrain_trainer`: one attempt of a TrainingJob, as the pod contract describes."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

from kubetrain.api.contract import SPEC_PATH, TERMINATION_LOG, Env, ExitCode
from kubetrain_trainer.errors import TrainerError


def _emit(kind: str, **fields: object) -> None:
    print(json.dumps({"kubetrain": kind, **fields}, default=str), flush=True)


def _termination_message(message: str) -> None:
    path = Path(os.environ.get(Env.TERMINATION_LOG, TERMINATION_LOG))
    with contextlib.suppress(OSError):  # not in a pod
        path.write_text(message[:4000])


def main(argv: list[str] | None = None) -> int:
    from kubetrain_trainer.runtime.checkpoint import StopSignal

    env = os.environ
    stop = StopSignal(Path(tempfile.mkdtemp(prefix="kubetrain-stop-")) / "stop").install()
    try:
        from kubetrain_trainer.config import from_spec, load_spec_file
        from kubetrain_trainer.runtime.storage import S3Settings, open_storage
        from kubetrain_trainer.stop import attempt_storage

        spec_path = (argv[0] if argv else "") or env.get(Env.SPEC, SPEC_PATH)
        config = from_spec(load_spec_file(spec_path))
        output = env.get(Env.OUTPUT_URI)
        if not output:
            raise TrainerError(f"{Env.OUTPUT_URI} is not set; the operator sets it.")
        context_args = {
            "job": env.get(Env.JOB_NAME, "job"),
            "namespace": env.get(Env.NAMESPACE, "default"),
            "attempt": env.get(Env.ATTEMPT, "1"),
            "output": open_storage(output, S3Settings.from_env()),
            "ray_address": env.get(Env.RAY_ADDRESS) or None,
            "stop": stop,
        }
        stop.watch(attempt_storage())  # a SIGTERM of any pod of the attempt reaches every rank
        if config.custom is not None:
            from kubetrain_trainer import custom
            from kubetrain_trainer.workflow import RunContext

            result = custom.run(config, RunContext(**context_args))  # type: ignore[arg-type]
        else:
            from kubetrain_trainer.workflow import RunContext, run

            result = run(config, RunContext(**context_args))  # type: ignore[arg-type]
        objective = result.evaluation.objective
        _emit(
            "result",
            artifactUri=result.artifact_uri,
            report=result.report_uri,
            metric=objective.metric,
            value=objective.value,
            threshold=objective.threshold,
            passed=objective.passed,
            warnings=result.evaluation.warnings,
        )
        return ExitCode.SUCCEEDED
    except TrainerError as exc:
        _emit("error", reason=type(exc).__name__, message=exc.message, exitCode=int(exc.exit_code))
        print(f"kubetrain: {exc.message}", file=sys.stderr)
        _termination_message(exc.message)
        return exc.exit_code
    except Exception as exc:  # a bug or a transient fault: keep the traceback for the logs
        traceback.print_exc()
        message = f"internal error: {type(exc).__name__}: {exc}"
        _emit("error", reason="InternalError", message=message, exitCode=int(ExitCode.INTERNAL))
        _termination_message(message)
        return ExitCode.INTERNAL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
