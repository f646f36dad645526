"""Where one attempt runs and writes: `RunContext`, from the pod environment or `kubetrain run`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubetrain_trainer.runtime.checkpoint import StopSignal
from kubetrain_trainer.runtime.storage import Storage


@dataclass
class RunContext:
    """Where this attempt runs and writes (from the pod's environment, or `kubetrain run`)."""

    job: str
    namespace: str
    attempt: str
    output: Storage  # the root `<output>`; the attempt writes below <namespace>/<job>/<attempt>
    ray_address: str | None = None
    progress_interval: float = 5.0
    echo_progress: bool = True
    stop: StopSignal | None = None

    @property
    def job_storage(self) -> Storage:
        return self.output.child(self.namespace, self.job)

    @property
    def attempt_storage(self) -> Storage:
        return self.job_storage.child(self.attempt)

    def ensure_ray(self) -> None:
        """Join the attempt's Ray cluster (`RAY_ADDRESS`), or start a local one, once."""
        import ray

        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "configure_logging": False,
            "log_to_driver": False,
        }
        if self.ray_address:
            ray.init(address=self.ray_address, **kwargs)
        else:
            ray.init(**kwargs)
