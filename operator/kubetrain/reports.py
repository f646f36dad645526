"""Reading what the trainer reports: `progress.json` while it runs, `metrics.json` and
`metadata.json` when it is done, under the attempt's prefix in the artifact store.

The trainer needs no Kubernetes API rights for this (see kubetrain_trainer.runtime.progress). The
operator reads the store with the credentials the job's pods get: the Secret the operator
config names (or `spec.output.s3.credentialsSecret`) in the job's namespace, fetched through
`kube.py` by the reconciler and handed in as `StoreAccess`. When it cannot read the store, the
report says why (`store_error`) and the status shows it; it never guesses a verdict.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from kubetrain.api.contract import Files, MetricsFile, ProgressFile, parse_file
from kubetrain.state import TrainerReport

log = logging.getLogger("kubetrain.reports")
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class StoreAccess:
    """How to reach one artifact store: endpoint, region and the credentials from a Secret."""

    endpoint: str | None
    region: str
    access_key: str
    secret_key: str

    def __repr__(self) -> str:  # never print the keys
        return f"StoreAccess(endpoint={self.endpoint!r}, region={self.region!r})"


class StoreError(Exception):
    """The store refused or could not be reached (not: the file is not there yet)."""


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/some/prefix/ -> ("bucket", "some/prefix/")."""
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def _progress(file: ProgressFile | None) -> dict[str, Any] | None:
    if file is None or file.total is None or not file.unit:
        return None
    completed = file.completed or 0
    summary = file.summary or f"{completed}/{file.total} {file.unit}"
    return {"completed": completed, "total": file.total, "unit": file.unit, "summary": summary}


def report_from(
    progress: Any,
    metrics: Any,
    metadata: Any,
    final: bool = False,
    store_error: str | None = None,
) -> TrainerReport:
    """Pure: the trainer's decoded JSON files in, what the status shows out.

    `final` says the driver has finished, so metrics.json should be there.
    """
    prog = parse_file(ProgressFile, progress) if progress is not None else None
    result = parse_file(MetricsFile, metrics) if metrics is not None else None
    best = prog.best_metric.model_dump() if prog and prog.best_metric else None
    scores: dict[str, float] | None = None
    if result is not None:
        if result.objective.value is not None:
            best = {"name": result.objective.metric, "value": result.objective.value}
        held_out = result.test or result.validation or {}
        scores = {
            k: float(v)
            for k, v in held_out.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and k != "n"
        } or None
    health = (result.health if result else []) or (prog.health if prog else [])
    tuning = (metadata or {}).get("tuning") if isinstance(metadata, dict) else None
    return TrainerReport(
        progress=_progress(prog),
        best_metric=best,
        metrics=scores,
        best_hyperparameters=(tuning or {}).get("bestConfig") or None,
        objective=result.objective if result else None,
        health=tuple((h.reason, h.message) for h in health),
        final=final,
        metrics_missing=final and result is None and store_error is None,
        metrics_invalid=metrics is not None and result is None,
        store_error=store_error,
    )


class ReportReader:
    """Reads an attempt's JSON files from an S3 store, one client per store access."""

    def __init__(self) -> None:
        self._clients: dict[StoreAccess, Any] = {}
        self._lock = threading.Lock()

    def _client(self, access: StoreAccess) -> Any:
        with self._lock:
            if access not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[access] = boto3.client(
                    "s3",
                    endpoint_url=access.endpoint,
                    region_name=access.region,
                    aws_access_key_id=access.access_key,
                    aws_secret_access_key=access.secret_key,
                    config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
                )
            return self._clients[access]

    def _json(self, access: StoreAccess, uri: str) -> Any:
        """The decoded file, None if it is absent or not JSON; StoreError if denied/down."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_uri(uri)
        try:
            body = self._client(access).get_object(Bucket=bucket, Key=key)["Body"]
            raw = body.read(MAX_FILE_BYTES)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StoreError(f"{code or 'error'} reading {uri}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach the store for {uri}: {exc}") from exc
        try:
            return json.loads(raw)
        except ValueError:
            log.debug("%s is not JSON", uri)
            return None

    def read(self, access: StoreAccess, attempt_uri: str, final: bool) -> TrainerReport:
        base = attempt_uri.rstrip("/")
        try:
            progress = self._json(access, f"{base}/{Files.PROGRESS}")
            metrics = self._json(access, f"{base}/{Files.METRICS}") if final else None
            metadata = self._json(access, f"{base}/{Files.METADATA}") if final else None
        except StoreError as exc:
            return report_from(None, None, None, final=final, store_error=str(exc))
        return report_from(progress, metrics, metadata, final=final)
