"""The published meta-schema of tenant config documents, and validation against it."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import resources
from typing import Any

from lowcode_platform import jsonutil
from lowcode_platform.errors import ErrorDetail
from lowcode_platform.schema.validators import iter_schema_errors, make_validator

META_SCHEMA_FILE = "tenant-config.schema.json"


@functools.cache
def meta_schema_text() -> str:
    """The meta-schema as published (JSON text)."""
    return resources.files("lowcode_platform.schema").joinpath(META_SCHEMA_FILE).read_text("utf-8")


@functools.cache
def _meta_validator() -> Any:
    return make_validator(jsonutil.loads(meta_schema_text()))


def meta_schema() -> dict[str, Any]:
    """A fresh copy of the meta-schema."""
    return jsonutil.loads(meta_schema_text())


def iter_meta_errors(document: Any) -> Iterator[ErrorDetail]:
    """Every place where `document` breaks the meta-schema."""
    return iter_schema_errors(_meta_validator(), document, unknown_code="unknown_key")
