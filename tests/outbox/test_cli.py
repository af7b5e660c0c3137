"""`tfso-events outbox ddl|status|dead|redrive` on SQLite and PostgreSQL (the relay
command itself runs in tests/outbox/test_crash.py, as processes)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.outbox.conftest import Database
from tests.outbox.helpers import first_name, order_event
from tfso_events.cli import main
from tfso_events.outbox import OutboxRelay
from tfso_events.testing import MemoryPublisher


async def _cli(*argv: str) -> int:
    # main() runs its own event loop: off this test's loop, in a thread.
    return await asyncio.to_thread(main, list(argv))


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_ddl_prints_the_table_for_the_dialect(
    dialect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`outbox ddl --dialect D --table T` prints CREATE TABLE T and its indexes."""
    assert main(["outbox", "ddl", "--dialect", dialect, "--table", "events_out"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CREATE TABLE events_out (")
    assert out.count("CREATE INDEX") == 2
    assert ("BIGSERIAL" in out) == (dialect == "postgresql")


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_ddl_with_inbox_prints_the_inbox_table_too(
    dialect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`outbox ddl --inbox` appends CREATE TABLE tfso_inbox and its index; `--inbox NAME`
    names it."""
    assert main(["outbox", "ddl", "--dialect", dialect, "--inbox"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CREATE TABLE tfso_outbox (")
    assert "CREATE TABLE tfso_inbox (" in out
    assert out.count("CREATE INDEX") == 3
    assert main(["outbox", "ddl", "--dialect", dialect, "--inbox", "seen"]) == 0
    assert "CREATE TABLE seen (" in capsys.readouterr().out


def test_usage_errors_say_what_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ddl without --dialect and status without --db (or TFSO_EVENTS_OUTBOX_DB) exit 2
    naming the option and the variable."""
    monkeypatch.delenv("TFSO_EVENTS_OUTBOX_DB", raising=False)
    assert main(["outbox", "ddl"]) == 2
    assert main(["outbox", "status"]) == 2
    err = capsys.readouterr().err
    assert "--dialect" in err
    assert "--db URL" in err
    assert "TFSO_EVENTS_OUTBOX_DB" in err


async def test_status_dead_and_redrive(
    database: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """status counts the backlog and dead letters, dead lists each with its reason,
    redrive makes them due again; TFSO_EVENTS_OUTBOX_DB stands for --db."""
    outbox, table = database.outbox, database.outbox.table.name
    async with database.engine.begin() as conn:
        await outbox.add(conn, order_event(1), order_event(2), order_event(3))
    publisher = MemoryPublisher()
    publisher.refuse(
        lambda event: first_name(event) == "order-2",
        code="InvalidArgument",
        message="no such order",
    )
    relay = OutboxRelay(database.url, publisher, outbox=outbox)
    try:
        assert await relay.drain() == 2
    finally:
        await relay.aclose()
    capsys.readouterr()
    assert await _cli("outbox", "status", "--db", database.url, "--table", table, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["backlog"], status["dead"]) == (0, 1)
    assert await _cli("outbox", "dead", "--db", database.url, "--table", table) == 0
    listed = capsys.readouterr().out
    assert "bank.test:created@v1" in listed
    assert "InvalidArgument: " in listed
    assert "no such order" in listed
    assert await _cli("outbox", "redrive", "--db", database.url, "--table", table) == 0
    assert capsys.readouterr().out.strip() == "1 dead letter due again"
    monkeypatch.setenv("TFSO_EVENTS_OUTBOX_DB", database.url)  # the URL off the command line
    assert await _cli("outbox", "status", "--table", table) == 0
    assert "backlog     1" in capsys.readouterr().out
