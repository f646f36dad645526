"""`python -m kubetrain_trainer.stop`: ask every rank of this attempt to checkpoint and stop.

A Ray worker pod runs no driver of its own, so its SIGTERM would reach nothing that trains:
its shell runs this instead, which writes the stop marker (`Files.STOP`) in the attempt's
prefix. Every `StopSignal` of the attempt (the driver, each Ray Train rank, each Tune trial)
sees the marker at its next poll, the ranks checkpoint, and the driver exits with
`ExitCode.INTERRUPTED`. The attempt's prefix and the store's settings come from the pod
contract's environment, as the driver reads them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from kubetrain.api.contract import Env, attempt_prefix
from kubetrain_trainer.runtime.storage import S3Settings, Storage, open_storage


def attempt_storage(env: Mapping[str, str] | None = None) -> Storage | None:
    """The attempt's prefix in the store, from the pod's environment; None outside a pod."""
    env = os.environ if env is None else env
    names = (Env.OUTPUT_URI, Env.NAMESPACE, Env.JOB_NAME, Env.ATTEMPT)
    if not all(env.get(name) for name in names):
        return None
    output, namespace, job, attempt = (env[name] for name in names)
    settings = S3Settings.from_env(dict(env))
    return open_storage(attempt_prefix(output, namespace, job, attempt), settings)


def main() -> int:
    from kubetrain_trainer.runtime.checkpoint import StopSignal

    storage = attempt_storage()
    if storage is None:
        print("kubetrain: not in a pod of an attempt; no stop marker written.", file=sys.stderr)
        return 1
    written = StopSignal(marker=storage).announce()
    if written:
        print(f"kubetrain: SIGTERM; asked every rank to checkpoint and stop ({storage.uri}).")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
