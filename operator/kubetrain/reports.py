"""Reading what the trainer reports: `progress.json` while it runs, `metrics.json` and
`metadata.json` when it is done, under the attempt's prefix in the artifact store.

The trainer needs no Kubernetes API rights for this (see kubetrain_trainer.progress); the
operator reads the store with its own credentials (AWS_* in its environment).
"""

from __future__ import annotations

import json
import logging
import os
from functools import cached_property
from typing import Any

from kubetrain.config import ArtifactStore
from kubetrain.state import TrainerReport

log = logging.getLogger("kubetrain.reports")


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/some/prefix/ -> ("bucket", "some/prefix/")."""
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def _progress(raw: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(raw.get("total"), int) or not raw.get("unit"):
        return None
    completed = int(raw.get("completed") or 0)
    summary = raw.get("summary") or f"{completed}/{raw['total']} {raw['unit']}"
    return {
        "completed": completed,
        "total": raw["total"],
        "unit": raw["unit"],
        "summary": str(summary)[:64],
    }


def _metric(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict) and isinstance(raw.get("value"), int | float) and raw.get("name"):
        return {"name": str(raw["name"]), "value": float(raw["value"])}
    return None


def report_from(
    progress: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
) -> TrainerReport:
    """Pure: the trainer's JSON files in, what the status shows out."""
    progress = progress or {}
    best = _metric(progress.get("bestMetric"))
    scores: dict[str, float] | None = None
    met = sentence = None
    if metrics:
        objective = metrics.get("objective") or {}
        if isinstance(objective.get("value"), int | float):
            best = {"name": objective["metric"], "value": float(objective["value"])}
        met = objective.get("passed")
        if objective.get("metric"):
            value = objective.get("value")
            threshold = objective.get("threshold")
            shown = f"{value:.4g}" if isinstance(value, int | float) else "n/a"
            sentence = f"{objective['metric']} = {shown} on held-out data"
            if threshold is not None:
                op = ">=" if objective.get("direction") == "maximize" else "<="
                sentence += f", threshold {op} {threshold}: {'met' if met else 'NOT met'}"
        held_out = metrics.get("test") or metrics.get("validation") or {}
        scores = {
            k: float(v) for k, v in held_out.items() if isinstance(v, int | float) and k != "n"
        } or None
    tuning = (metadata or {}).get("tuning") or {}
    return TrainerReport(
        progress=_progress(progress),
        best_metric=best,
        metrics=scores,
        best_hyperparameters=tuning.get("bestConfig") or None,
        success_criteria_met=met,
        objective_sentence=sentence,
    )


class ReportReader:
    """Reads an attempt's JSON files from the S3 artifact store."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    @cached_property
    def s3(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.store.endpoint or os.environ.get("AWS_ENDPOINT_URL"),
            region_name=self.store.region,
            config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
        )

    def _json(self, uri: str) -> dict[str, Any] | None:
        bucket, key = split_uri(uri)
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
            data = json.loads(body.read(1_000_000))
        except Exception as exc:
            log.debug("no %s: %s", uri, exc)
            return None
        return data if isinstance(data, dict) else None

    def read(self, attempt_uri: str, final: bool) -> TrainerReport:
        base = attempt_uri.rstrip("/")
        progress = self._json(f"{base}/progress.json")
        metrics = self._json(f"{base}/metrics.json") if final else None
        metadata = self._json(f"{base}/metadata.json") if final else None
        return report_from(progress, metrics, metadata)
