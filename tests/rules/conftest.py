"""Fixtures of the compiler tests: the durable_rules oracle and a records table on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from lowcode_platform.storage.engine import make_engine
from tests.rules.harness import SqlRecords
from tests.rules.oracle import Oracle


@pytest.fixture(scope="session")
def durable() -> Iterator[Oracle]:
    oracle = Oracle()
    try:
        yield oracle
    finally:
        oracle.close()


@pytest.fixture(scope="session")
def rules_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sql_records(rules_engine: Engine) -> SqlRecords:
    """A tenant of its own on each backend; rows are inserted and rolled back per check."""
    return SqlRecords(rules_engine)
