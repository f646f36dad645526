"""Where the trainer reads and writes: a local directory or an S3 prefix, behind one interface.

`open_storage(uri)` returns a `Storage` rooted at `uri` (`s3://bucket/prefix`, `file:///dir` or a
plain path). Names below the root use `/`. Reads of data files go through `download_file`, which
for S3 is s3transfer's multipart download into a local file: memory stays bounded whatever the
object's size. `read_bytes` is for the small JSON documents the trainer itself writes and refuses
anything larger than `SMALL_OBJECT_LIMIT`.

S3 settings come from the environment (`S3Settings.from_env`): `KUBETRAIN_S3_ENDPOINT` (or
`AWS_ENDPOINT_URL`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`. Path-style
addressing is used so that SeaweedFS and MinIO work without DNS tricks.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from kubetrain.api.contract import Env
from kubetrain_trainer.errors import DataError, StorageAccessError

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
            shutil.copyfile(local, path)

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


@dataclass(frozen=True)
class S3Settings:
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> S3Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            endpoint=env.get(Env.S3_ENDPOINT) or env.get("AWS_ENDPOINT_URL") or None,
            access_key=env.get(Env.AWS_ACCESS_KEY_ID) or None,
            secret_key=env.get(Env.AWS_SECRET_ACCESS_KEY) or None,
            region=env.get(Env.AWS_REGION) or env.get("AWS_DEFAULT_REGION") or "us-east-1",
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
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{self._key(name)}"
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _DENIED_CODES:
                raise StorageAccessError(
                    f"S3 denied {what} {where} ({code}) at endpoint "
                    f"{self.settings.endpoint or 'AWS'}: check the bucket name and the "
                    "credentials in the job's S3 secret (AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY)."
                ) from exc
            if code in _MISSING_CODES:
                raise DataError(f"{where} does not exist ({what} failed).") from exc
            raise
        except BotoCoreError as exc:
            raise StorageAccessError(
                f"cannot reach S3 to {what} {where} at endpoint "
                f"{self.settings.endpoint or 'AWS'}: {exc}"
            ) from exc

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
        return body.read(SMALL_OBJECT_LIMIT + 1)

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
        paginator = self.client.get_paginator("list_objects_v2")
        names: list[str] = []
        pages = self._call("list", prefix, paginator.paginate, Bucket=self.bucket, Prefix=full)
        try:
            for page in pages:
                names.extend(obj["Key"][len(root) :] for obj in page.get("Contents", []))
        except Exception as exc:
            self._call("list", prefix, _reraise, exc)
        return sorted(names)


def _reraise(exc: Exception) -> None:
    raise exc


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
