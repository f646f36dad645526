"""Where the data comes from: a built-in dataset, or CSV/Parquet objects in S3.

S3 credentials are only ever a reference to a Secret: a manifest never carries a key.
`kubetrain run` also reads a local file or directory (relative to the manifest); the operator
rejects local paths at admission, since no pod can see the user's disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated

from pydantic import StringConstraints

from kubetrain.api.base import (
    S3_BUCKET,
    VISIBLE,
    ApiModel,
    HttpUrl,
    ObjectName,
    Rule,
)
from kubetrain.api.enums import DataFormat, Dataset

SecretKey = Annotated[
    str, StringConstraints(strict=True, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
]
Region = Annotated[str, StringConstraints(strict=True, max_length=64, pattern=r"^[a-z0-9-]+$")]


DataUri = Annotated[
    str,
    StringConstraints(
        strict=True, max_length=1024, pattern=rf"^({S3_BUCKET}/{VISIBLE}+|[^:\x00-\x1f]+)$"
    ),
]
"""`s3://bucket/key` (an object, or a prefix holding several), or for `kubetrain run` only a
local file or directory path (without a colon), relative to the manifest."""

LOCAL_DATA: ContextVar[bool] = ContextVar("kubetrain_local_data", default=False)
"""Whether local data paths are acceptable: only while `kubetrain run` checks a manifest."""


@contextmanager
def local_data_allowed() -> Iterator[None]:
    """Accept local paths in `data.source` within this block (`kubetrain run`)."""
    token = LOCAL_DATA.set(True)
    try:
        yield
    finally:
        LOCAL_DATA.reset(token)


def _in_s3(uri: str | None) -> bool:
    return uri is None or uri.startswith("s3://")


_LOCAL_PATH_MESSAGE = (
    "is a local path, which only `kubetrain run` reads: pods cannot see your disk. Copy the "
    "data into S3 first (for example `aws s3 cp --recursive DIR s3://BUCKET/PREFIX`, or "
    "`aws s3 cp FILE s3://BUCKET/KEY`; add --endpoint-url for a store other than AWS) and set "
    "its s3:// URI"
)


_URI_FIELDS = (("uri", "uri"), ("validationUri", "validation_uri"), ("testUri", "test_uri"))


def _in_store(name: str, attr: str) -> Rule:
    """The rule that `name` is an s3:// URI, except while `kubetrain run` checks the manifest."""

    def holds(source: object) -> bool:
        return LOCAL_DATA.get() or _in_s3(getattr(source, attr))

    return Rule(
        cel=f"!has(self.{name}) || self.{name}.startsWith('s3://')",
        message=_LOCAL_PATH_MESSAGE,
        holds=holds,
        field=f".{name}",
    )


class SecretKeys(ApiModel):
    """A Secret in the job's namespace holding S3 credentials, and the keys within it."""

    name: ObjectName
    """The Secret's name."""
    access_key_id_key: SecretKey = "AWS_ACCESS_KEY_ID"
    """The key holding the access key id."""
    secret_access_key_key: SecretKey = "AWS_SECRET_ACCESS_KEY"
    """The key holding the secret access key."""


class S3Access(ApiModel):
    """How to reach an S3 store. Unset fields fall back to the operator's configured store."""

    endpoint: HttpUrl | None = None
    """The S3 endpoint URL, for stores other than AWS (SeaweedFS, MinIO, Ceph)."""
    region: Region | None = None
    """The S3 region."""
    credentials_secret: SecretKeys | None = None
    """The Secret with the credentials."""


class DataSource(ApiModel):
    """Training data in S3; validation and test data may be separate objects."""

    uri: DataUri
    """The training data: an object, or a prefix whose objects are read together (with
    `kubetrain run`: also a local file or directory, relative to the manifest)."""
    validation_uri: DataUri | None = None
    """Separate validation data; when set, the split takes no validation rows."""
    test_uri: DataUri | None = None
    """Separate test data; when set, the split takes no test rows."""
    format: DataFormat | None = None
    """The file format. Defaults to the training URI's extension (.csv or .parquet)."""

    rules = (
        *(_in_store(name, attr) for name, attr in _URI_FIELDS),
        Rule(
            cel="has(self.format) || self.uri.endsWith('.csv') || self.uri.endsWith('.parquet')",
            message="is required when the uri does not end in .csv or .parquet",
            holds=lambda d: d.format is not None or d.uri.endswith((".csv", ".parquet")),
            field=".format",
        ),
    )

    @property
    def resolved_format(self) -> DataFormat:
        """The format, defaulted from the training URI's extension."""
        if self.format is not None:
            return self.format
        return DataFormat.PARQUET if self.uri.endswith(".parquet") else DataFormat.CSV


class DataSpec(ApiModel):
    """The data: exactly one of a built-in dataset or an S3 source."""

    dataset: Dataset | None = None
    """A built-in dataset that ships with a library; for demos and tests."""
    source: DataSource | None = None
    """CSV or Parquet data in S3."""
    s3: S3Access | None = None
    """How to reach the source's S3 store; the operator's store when unset."""

    rules = (
        Rule(
            cel="has(self.dataset) != has(self.source)",
            message="set exactly one of dataset or source",
            holds=lambda d: (d.dataset is None) != (d.source is None),
        ),
        Rule(
            cel="!has(self.s3) || has(self.source)",
            message="applies to an S3 source only",
            holds=lambda d: d.s3 is None or d.source is not None,
            field=".s3",
        ),
    )
