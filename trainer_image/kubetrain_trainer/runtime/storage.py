"""Where the trainer reads and writes: a local directory or an S3 prefix, behind one interface.

`open_storage(uri)` returns a `Storage` rooted at `uri` (`s3://bucket/prefix`, `file:///dir` or a
plain path). Names below the root use `/`. Reads of data files go through `download_file`, which
for S3 is s3transfer's multipart download into a local file: memory stays bounded whatever the
object's size. `read_bytes` is for the small JSON documents the trainer itself writes and refuses
anything larger than `SMALL_OBJECT_LIMIT`.

S3 settings come from the environment (`S3Settings.from_env`): `KUBETRAIN_S3_ENDPOINT` (or
`AWS_ENDPOINT_URL`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`. Path-style
addressing is used so that SeaweedFS and MinIO work without DNS tricks.

An S3 store that goes away for a while (a restart, a network blip) does not fail the attempt:
every request is retried with backoff for up to `KUBETRAIN_S3_RETRY_SECONDS` (120 s) while the
store is unreachable or answers 5xx, saying so once on stderr. Each object appears whole or not
at all (an S3 PUT is atomic; a local file is written aside and renamed), and what is made of
several objects is committed by writing its index last (the model's `model.json`).
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import urlparse

from kubetrain.api.contract import Env
from kubetrain_trainer.errors import DataError, StorageAccessError, StorageUnreachableError

SMALL_OBJECT_LIMIT = 16 * 1024 * 1024
# Above this, write_bytes uploads in parts (benchmarks/s3_storage.py: a single PUT of 256 MiB
# took 8% longer than s3transfer's multipart upload on SeaweedFS).
MULTIPART_THRESHOLD = 64 * 1024 * 1024

_DENIED_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "AllAccessDisabled",
    "InvalidToken",
    "ExpiredToken",
    "403",
}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_TRANSIENT_CODES = {
    "500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown",
    "RequestTimeout", "RequestTimeTooSkewed",
}  # fmt: skip
DEFAULT_RETRY_SECONDS = 120.0


class Storage(Protocol):
    """A root location with files below it."""

    @property
    def uri(self) -> str: ...

    def child(self, *parts: str) -> Storage: ...

    def write_bytes(self, name: str, data: bytes) -> None: ...

    def read_bytes(self, name: str) -> bytes: ...

    def upload_file(self, name: str, local: Path) -> None: ...

    def download_file(self, name: str, local: Path) -> None: ...

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str) -> None: ...

    def list(self, prefix: str = "") -> list[str]: ...


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class LocalStorage:
    """A directory on the local file system."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def uri(self) -> str:
        return str(self.root)

    def child(self, *parts: str) -> LocalStorage:
        return LocalStorage(self.root / _join(*parts))

    def _path(self, name: str) -> Path:
        return self.root / name if name else self.root

    def write_bytes(self, name: str, data: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # readers (the operator, a resuming attempt) never see half a file

    def read_bytes(self, name: str) -> bytes:
        path = self._path(name)
        try:
            if path.stat().st_size > SMALL_OBJECT_LIMIT:
                raise DataError(f"{path} is larger than {SMALL_OBJECT_LIMIT} bytes")
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise DataError(f"{path} does not exist") from exc

    def upload_file(self, name: str, local: Path) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if Path(local).resolve() != path.resolve():
            tmp = path.with_name(path.name + ".tmp")
            shutil.copyfile(local, tmp)
            tmp.replace(path)  # whole or not at all, as an S3 PUT

    def download_file(self, name: str, local: Path) -> None:
        path = self._path(name)
        if not path.is_file():
            raise DataError(f"{path} does not exist or is not a file")
        try:
            shutil.copyfile(path, local)
        except PermissionError as exc:
            raise DataError(f"{path} cannot be read: {exc.strerror}") from exc

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix)
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())


CREDENTIAL_ENV: tuple[str, str] = (Env.AWS_ACCESS_KEY_ID, Env.AWS_SECRET_ACCESS_KEY)


@dataclass(frozen=True)
class S3Settings:
    """An S3 endpoint and its credentials.

    The credentials never travel in a pickle: Ray ships these settings to other pods and writes
    its run state (which holds them) into the job's store, where anyone who can read the
    artifacts would find them. A pickle names `credential_env` instead, the variables the
    receiving process reads them from (the operator puts them in every pod from the Secret).
    """

    endpoint: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    credential_env: tuple[str, str] = field(default=CREDENTIAL_ENV, compare=False)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, credential_env: tuple[str, str] = CREDENTIAL_ENV
    ) -> S3Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            endpoint=env.get(Env.S3_ENDPOINT) or env.get("AWS_ENDPOINT_URL") or None,
            access_key=env.get(credential_env[0]) or None,
            secret_key=env.get(credential_env[1]) or None,
            region=env.get(Env.AWS_REGION) or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            credential_env=credential_env,
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_settings_in_this_process, (self.endpoint, self.region, self.credential_env))

    def credentials_in_env(self) -> bool:
        """Whether this process's environment holds these very credentials."""
        key, secret = self.credential_env
        return (os.environ.get(key) or None, os.environ.get(secret) or None) == (
            self.access_key,
            self.secret_key,
        )

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
        )


def _settings_in_this_process(
    endpoint: str | None, region: str, credential_env: tuple[str, str]
) -> S3Settings:
    """Unpickled `S3Settings`: the endpoint sent, the credentials from this process's env."""
    key, secret = credential_env
    return S3Settings(
        endpoint,
        os.environ.get(key) or None,
        os.environ.get(secret) or None,
        region,
        credential_env,
    )


class S3Storage:
    """A prefix in an S3 bucket. Picklable: the boto3 client is created lazily per process."""

    def __init__(self, bucket: str, prefix: str, settings: S3Settings) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings
        self._client: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "prefix": self.prefix, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["bucket"], state["prefix"], state["settings"])  # type: ignore[misc]

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.settings.client()
        return self._client

    @property
    def uri(self) -> str:
        return f"s3://{_join(self.bucket, self.prefix)}"

    def child(self, *parts: str) -> S3Storage:
        return S3Storage(self.bucket, _join(self.prefix, *parts), self.settings)

    def _key(self, name: str) -> str:
        return _join(self.prefix, name)

    def _call(self, what: str, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`, retried with backoff while the store is unreachable; S3's
        errors as the trainer's."""
        deadline = time.monotonic() + _retry_seconds()
        delay = 0.5
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                cause = _botocore_error(exc)
                if cause is None:
                    raise
                remaining = deadline - time.monotonic()
                if not _transient(cause) or remaining <= 0:
                    self._raise(what, name, cause)
                if delay == 0.5:
                    print(
                        f"kubetrain: S3 at {self.settings.endpoint or 'AWS'} failed to {what} "
                        f"{name or '/'} ({cause}); retrying for up to {_retry_seconds():g} s",
                        file=sys.stderr,
                        flush=True,
                    )
                time.sleep(min(delay, remaining))  # the last try comes at the deadline
                delay = min(delay * 2, 8.0)

    def _raise(self, what: str, name: str, exc: Exception) -> None:
        """`exc`, a botocore error, as the trainer's error that says what to do about it."""
        from botocore.exceptions import ClientError

        where = f"s3://{self.bucket}/{self._key(name)}"
        endpoint = self.settings.endpoint or "AWS"
        if not isinstance(exc, ClientError):
            raise StorageUnreachableError(
                f"cannot reach S3 to {what} {where} at endpoint {endpoint} "
                f"(retried for {_retry_seconds():g} s): {exc}"
            ) from exc
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _DENIED_CODES:
            raise StorageAccessError(
                f"S3 denied {what} {where} ({code}) at endpoint {endpoint}: check the bucket "
                "name and the credentials in the job's S3 secret (AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY)."
            ) from exc
        if code in _MISSING_CODES:
            raise DataError(f"{where} does not exist ({what} failed).") from exc
        if code in _TRANSIENT_CODES:
            raise StorageUnreachableError(
                f"S3 kept failing to {what} {where} ({code}) at endpoint {endpoint} "
                f"for {_retry_seconds():g} s."
            ) from exc
        raise exc

    def write_bytes(self, name: str, data: bytes) -> None:
        if len(data) > MULTIPART_THRESHOLD:
            # A large checkpoint: s3transfer's concurrent multipart upload, as fast as a raw
            # upload_fileobj and not bound by a single PUT's 5 GiB limit. BytesIO shares the
            # bytes (no copy); the object appears only when the upload completes.
            self._call(
                "write", name, self.client.upload_fileobj, io.BytesIO(data), self.bucket,
                self._key(name),
            )  # fmt: skip
            return
        self._call(
            "write",
            name,
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(name),
            Body=data,
        )

    def read_bytes(self, name: str) -> bytes:
        head = self._call(
            "read", name, self.client.head_object, Bucket=self.bucket, Key=self._key(name)
        )
        if head["ContentLength"] > SMALL_OBJECT_LIMIT:
            raise DataError(f"s3://{self.bucket}/{self._key(name)} is too large to read whole")
        body = self._call(
            "read", name, self.client.get_object, Bucket=self.bucket, Key=self._key(name)
        )["Body"]
        return cast(bytes, body.read(SMALL_OBJECT_LIMIT + 1))

    def upload_file(self, name: str, local: Path) -> None:
        self._call("write", name, self.client.upload_file, str(local), self.bucket, self._key(name))

    def download_file(self, name: str, local: Path) -> None:
        # s3transfer: ranged, multipart GETs written straight to disk, bounded memory.
        self._call(
            "read", name, self.client.download_file, self.bucket, self._key(name), str(local)
        )

    def exists(self, name: str) -> bool:
        try:
            self._call(
                "read", name, self.client.head_object, Bucket=self.bucket, Key=self._key(name)
            )
        except DataError:
            return False
        return True

    def delete(self, name: str) -> None:
        self._call(
            "delete", name, self.client.delete_object, Bucket=self.bucket, Key=self._key(name)
        )

    def list(self, prefix: str = "") -> list[str]:
        root = self.prefix + "/" if self.prefix else ""
        full = _join(self.prefix, prefix)
        if full and (not prefix or prefix.endswith("/")):
            full += "/"

        def every_page() -> list[str]:  # pages are fetched while iterating: retry them all
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            return [obj["Key"][len(root) :] for page in pages for obj in page.get("Contents", [])]

        return sorted(self._call("list", prefix, every_page))


def _retry_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(Env.S3_RETRY_SECONDS, DEFAULT_RETRY_SECONDS)))
    except ValueError:
        return DEFAULT_RETRY_SECONDS


def _botocore_error(exc: BaseException) -> Exception | None:
    """The botocore error behind `exc` (boto3's transfers wrap a ClientError), else None."""
    from botocore.exceptions import BotoCoreError, ClientError

    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, BotoCoreError | ClientError):
            return cast(Exception, candidate)
    return None


def _transient(exc: Exception) -> bool:
    """A fault that waiting may cure: no connection, a timeout, a 5xx or throttling."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) in _TRANSIENT_CODES
    return isinstance(exc, ConnectionError | HTTPClientError)


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b.csv` -> (`s3://bucket/a`, `b.csv`); works for paths too."""
    head, _, tail = uri.rstrip("/").rpartition("/")
    return head or ".", tail


def open_storage(uri: str, s3: S3Settings | None = None) -> Storage:
    """A `Storage` rooted at `uri`."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise DataError(f"{uri!r} names no bucket; expected s3://BUCKET/PREFIX")
        return S3Storage(parsed.netloc, parsed.path, s3 or S3Settings.from_env())
    if parsed.scheme == "file":
        return LocalStorage(Path(parsed.path))
    if parsed.scheme in ("", None) or len(parsed.scheme) == 1:  # plain or Windows-ish path
        return LocalStorage(Path(uri))
    raise DataError(f"unsupported URI scheme in {uri!r}; use s3://, file:// or a path")
