"""Reading what the trainer reports: `progress.json` while it runs, `metrics.json` and
`metadata.json` when it is done, under the attempt's prefix in the artifact store.

The trainer needs no Kubernetes API rights for this (see kubetrain_trainer.runtime.progress). The
operator reads the store with the credentials the job's pods get: the Secret the operator
config names (or `spec.output.s3.credentialsSecret`) in the job's namespace, fetched through
`kube.py` by the reconciler and handed in as `StoreAccess`. When it cannot read the store, the
report says why (`store_error`) and the status shows it; it never guesses a verdict.

The files are the trainer's, or a user's own code's: anything may be in them. What is not
JSON, or not the contract's shape, is ignored (a `metrics.json` so is "not valid": no verdict),
and a value the status cannot hold (NaN, an integer beyond int64, a unit the CRD does not
know) is left out of the status rather than making every status patch fail.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubetrain.api.contract import Files, MetricsFile, ProgressFile, parse_file
from kubetrain.api.status import TrainingJobStatus
from kubetrain.state import TrainerReport

log = logging.getLogger("kubetrain.reports")
MAX_FILE_BYTES = 1_000_000
INT64_MAX = 2**63 - 1
UNREADABLE = object()
"""A file that is there but is not JSON (binary junk, truncated, too large, too deep)."""


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
    prog = parse_file(ProgressFile, progress) if progress not in (None, UNREADABLE) else None
    result = parse_file(MetricsFile, metrics) if metrics not in (None, UNREADABLE) else None
    best = prog.best_metric.model_dump() if prog and prog.best_metric else None
    scores: dict[str, float] | None = None
    if result is not None:
        if result.objective.value is not None:
            best = {"name": result.objective.metric, "value": result.objective.value}
        held_out = result.test or result.validation or {}
        scores = {
            k: _as_float(v)
            for k, v in held_out.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and k != "n"
        } or None
    health = (result.health if result else []) or (prog.health if prog else [])
    tuning = (metadata or {}).get("tuning") if isinstance(metadata, dict) else None
    hyperparameters = tuning.get("bestConfig") if isinstance(tuning, dict) else None
    finite = {k: v for k, v in (scores or {}).items() if math.isfinite(v)}
    return TrainerReport(
        progress=_status_field("progress", _progress(prog)),
        best_metric=_status_field("bestMetric", best),
        metrics=_status_field("bestMetrics", finite or None),
        best_hyperparameters=_status_field("bestHyperparameters", hyperparameters or None),
        objective=result.objective if result else None,
        health=tuple((h.reason, h.message) for h in health),
        final=final,
        metrics_missing=final and result is None and store_error is None,
        metrics_invalid=metrics is not None and result is None,
        store_error=store_error,
    )


def _as_float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return math.nan


def _status_field(name: str, value: Any) -> Any:
    """`value` if the status field `name` (its JSON name) can hold it, else None."""
    if value is None:
        return None
    try:
        json.dumps(value, allow_nan=False)
        TrainingJobStatus.model_validate({name: value})
    except (ValueError, TypeError, RecursionError, ValidationError):
        log.debug("left %s out of the status: the status cannot hold it", name)
        return None
    return value if _ints_fit(value) else None


def _ints_fit(value: Any, depth: int = 0) -> bool:
    """Whether every integer in `value` fits the API server's int64."""
    if isinstance(value, bool) or depth > 32:
        return True
    if isinstance(value, int):
        return -INT64_MAX - 1 <= value <= INT64_MAX
    if isinstance(value, dict):
        return all(_ints_fit(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_ints_fit(v, depth + 1) for v in value)
    return True


def decode(raw: bytes) -> Any:
    """A file's JSON, or `UNREADABLE`: never an exception, whatever the bytes."""
    if len(raw) > MAX_FILE_BYTES:
        return UNREADABLE
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return UNREADABLE


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
        """The decoded file, None if absent, `UNREADABLE` if not JSON; StoreError if denied/down."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_uri(uri)
        try:
            body = self._client(access).get_object(Bucket=bucket, Key=key)["Body"]
            raw = body.read(MAX_FILE_BYTES + 1)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StoreError(f"{code or 'error'} reading {uri}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach the store for {uri}: {exc}") from exc
        decoded = decode(raw)
        if decoded is UNREADABLE:
            log.debug("%s is not JSON (or larger than %d bytes)", uri, MAX_FILE_BYTES)
        return decoded

    def read(self, access: StoreAccess, attempt_uri: str, final: bool) -> TrainerReport:
        base = attempt_uri.rstrip("/")
        try:
            progress = self._json(access, f"{base}/{Files.PROGRESS}")
            metrics = self._json(access, f"{base}/{Files.METRICS}") if final else None
            metadata = self._json(access, f"{base}/{Files.METADATA}") if final else None
        except StoreError as exc:
            return report_from(None, None, None, final=final, store_error=str(exc))
        return report_from(progress, metrics, metadata, final=final)
