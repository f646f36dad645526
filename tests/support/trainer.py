"""The trainer as the tests run it: in this process (`run_spec`) or as a pod runs it
(`python -m kubetrain_trainer` with the KUBETRAIN_* environment of `trainer_env`).

The variables are the ones the operator's pod builder sets (kubetrain.builders.pods) and the
trainer's entry point reads (kubetrain_trainer.__main__).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tests.support.manifests import manifest

from kubetrain.api import contract
from kubetrain.api.contract import Env

TRAINER_COMMAND = [sys.executable, *contract.TRAINER_COMMAND[1:]]
"""The pod's command: the trainer's entry point in this environment."""


def trainer_env(
    spec_file: Path,
    output_uri: str | Path,
    *,
    job: str,
    namespace: str,
    attempt: int = 1,
    **extra: str,
) -> dict[str, str]:
    """This process's environment plus what a trainer pod gets; `extra` adds or overrides."""
    return {
        **os.environ,
        Env.SPEC: str(spec_file),
        Env.OUTPUT_URI: str(output_uri),
        Env.JOB_NAME: job,
        Env.NAMESPACE: namespace,
        Env.ATTEMPT: str(attempt),
        **extra,
    }


def config_of(spec: dict[str, Any]) -> Any:
    """The trainer's resolved configuration of a spec."""
    from kubetrain_trainer.config import from_spec, parse_spec

    return from_spec(parse_spec(manifest(spec)))


def run_spec(
    spec: dict[str, Any], output: Path, *, attempt: str = "1", job: str = "t", stop: Any = None
) -> Any:
    """Run the trainer's workflow in this process, artifacts into the directory `output`."""
    from kubetrain_trainer.runtime.storage import LocalStorage
    from kubetrain_trainer.workflow import RunContext, run

    context = RunContext(
        job=job,
        namespace="ns",
        attempt=attempt,
        output=LocalStorage(output),
        echo_progress=False,
        progress_interval=0.0,
        stop=stop,
    )
    return run(config_of(spec), context)
