"""Structured JSON logs: one object per line, with the job's namespace/name when there is one."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from typing import Any

current_job: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "current_job", default=None
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        job = current_job.get()
        ref = getattr(record, "k8s_ref", None)  # kopf's per-object loggers
        if job is not None:
            out["namespace"], out["name"] = job
        elif isinstance(ref, dict):
            out["namespace"], out["name"] = ref.get("namespace"), ref.get("name")
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(fmt: str = "json", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "botocore", "boto3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # urllib3 warns of each retried connection: an API server outage is said once, by
    # kubetrain.kube's REACHABILITY, not once per request.
    logging.getLogger("urllib3.connectionpool").setLevel(max(level, logging.ERROR))
    # kopf says "Handler ... succeeded." for every watch event: at 10,000 jobs that is most
    # of the log and a good share of the CPU. Its warnings and errors stay.
    logging.getLogger("kopf.objects").setLevel(max(level, logging.WARNING))
