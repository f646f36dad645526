"""What a saved state (checkpoint, finished trial) depends on: reuse it only on a match."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from kubetrain_trainer.config import JobConfig
from kubetrain_trainer.models.train import ModelSpec


def fingerprint(data_hash: str, spec: ModelSpec, config: JobConfig, **more: Any) -> str:
    """The data, the model, its hyperparameters and training, the preparation and the workers
    (plus `more`), hashed: a checkpoint or trial of another shape is not resumed."""
    shape = {
        "data": data_hash,
        "model": spec.name,
        "hyperparameters": spec.hyperparameters,
        "training": dataclasses.asdict(spec.training),
        "preparation": dataclasses.asdict(config.preparation),
        "workers": spec.workers,
        **more,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]
