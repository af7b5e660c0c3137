"""The outbox's tests run on both databases it supports: SQLite (a file in a temporary
directory) and a real PostgreSQL that the suite starts for itself (tests/outbox/_postgres.py).
``database`` is parametrized over both; each test gets its own outbox table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.outbox._postgres import bindir, postgres_cluster
from tfso_events.outbox import Outbox
from tfso_events.outbox._db import async_url

DIALECTS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster of the suite's own, on 127.0.0.1 (skipped, saying why, on a
    machine without PostgreSQL: `make test` installs it)."""
    if bindir() is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    with postgres_cluster() as url:
        yield url


@dataclass
class Database:
    """One test's database: its ``url`` (as a user writes it), an async ``engine`` for
    the test's own statements, and an ``outbox`` whose table exists."""

    dialect: str
    url: str
    engine: AsyncEngine
    outbox: Outbox


@pytest.fixture(params=DIALECTS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An outbox table (its own name) on SQLite and on PostgreSQL."""
    dialect: str = request.param
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    outbox = Outbox(MetaData(), table_name=f"outbox_{uuid.uuid4().hex[:12]}")
    engine = create_async_engine(async_url(url))
    async with engine.begin() as conn:
        if dialect == "sqlite":  # as docs/outbox.md advises: writers wait less on readers
            await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        await conn.run_sync(outbox.table.metadata.create_all)
    try:
        yield Database(dialect, url, engine, outbox)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(outbox.table.metadata.drop_all)
        await engine.dispose()
