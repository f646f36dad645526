"""Where the data comes from: a built-in dataset, or CSV/Parquet objects in S3.

S3 credentials are only ever a reference to a Secret: a manifest never carries a key.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from kubetrain.api.base import (
    ApiModel,
    HttpUrl,
    ObjectName,
    Rule,
    S3ObjectUri,
)
from kubetrain.api.enums import DataFormat, Dataset

SecretKey = Annotated[
    str, StringConstraints(strict=True, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
]
Region = Annotated[str, StringConstraints(strict=True, max_length=64, pattern=r"^[a-z0-9-]+$")]


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

    uri: S3ObjectUri
    """The training data: an object, or a prefix whose objects are read together."""
    validation_uri: S3ObjectUri | None = None
    """Separate validation data; when set, the split takes no validation rows."""
    test_uri: S3ObjectUri | None = None
    """Separate test data; when set, the split takes no test rows."""
    format: DataFormat | None = None
    """The file format. Defaults to the training URI's extension (.csv or .parquet)."""

    rules = (
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
