"""What one attempt returns: its evaluation, where its artifacts are, and the files it wrote.

The in-memory workflow, the Ray Data path and custom code all return a `JobResult`, which the
entry point and `kubetrain run` read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubetrain_trainer.evaluation.metrics import Evaluation


@dataclass
class JobResult:
    evaluation: Evaluation
    artifact_uri: str
    report_uri: str
    metadata: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
