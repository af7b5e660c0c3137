"""`tfso-events outbox ddl|status|dead|redrive` on SQLite and PostgreSQL (the relay
command itself runs in tests/outbox/test_crash.py, as processes)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.outbox.conftest import Database
from tests.outbox.helpers import first_name, order_event
from tfso_events.cli import main
from tfso_events.local import LocalHub
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


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port  # closed when the socket is: nothing listens there


@pytest.mark.parametrize("action", ["status", "dead", "redrive"])
async def test_a_database_that_is_down_is_one_line_without_its_password(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """status/dead/redrive against a PostgreSQL that does not answer exit 1 with one
    line naming the database (password hidden), not a driver's traceback."""
    url = f"postgresql://app:Sup3rS3cret@127.0.0.1:{_closed_port()}/app"
    assert await _cli("outbox", action, "--db", url) == 1
    captured = capsys.readouterr()
    assert "Sup3rS3cret" not in captured.out + captured.err
    assert "Traceback" not in captured.err
    (line,) = captured.err.strip().splitlines()
    assert f"outbox {action}: the database postgresql+asyncpg://app:***@127.0.0.1" in line


async def test_a_missing_table_says_so_and_how_to_make_it(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """status on a table that does not exist exits 1 naming it and `outbox ddl`, in one
    line."""
    assert await _cli("outbox", "status", "--db", database.url, "--table", "no_such") == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "'no_such' exists" in line
    assert "outbox ddl" in line


@pytest.mark.parametrize(
    "command", [["outbox", "status"], ["relay", "--via", "api", "--env", "local"]]
)
async def test_an_unparsable_url_is_a_usage_error_without_its_password(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A database URL SQLAlchemy cannot parse exits 2 saying so, without echoing the
    URL (its password) and without a traceback."""
    for url in ("postgresql//app:Sup3rS3cret@db/app", "postgresql://app:Sup3rS3cret@db:port/app"):
        assert await _cli(*command, "--db", url) == 2, url
        captured = capsys.readouterr()
        assert "Sup3rS3cret" not in captured.out + captured.err
        assert "Traceback" not in captured.err
        assert "cannot be parsed" in captured.err


async def test_dead_escapes_control_characters_of_a_hostile_row(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """`outbox dead` prints a row's detail-type and reason with control characters
    escaped: no terminal escape reaches the terminal, no line is forged."""
    outbox = database.outbox
    good = order_event(1)
    async with database.engine.begin() as conn:
        await conn.execute(
            outbox.table.insert().values(
                detail_type="evil\x1b]0;owned\x07",
                source=good.source,
                module="bank",
                bus="tfso-bank-events",
                detail=good.detail_json().decode(),
                last_error="refused\n#2 bank.test:created@v1 (forged): fine",
                dead_at=dt.datetime.now(dt.UTC),
            )
        )
    table = outbox.table.name
    assert await _cli("outbox", "dead", "--db", database.url, "--table", table) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    (line,) = out.strip().splitlines()
    assert "evil\\x1b]0;owned\\x07" in line


async def test_a_mistyped_sqlite_path_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status on a SQLite file that does not exist exits 1 saying it cannot open it,
    and leaves no empty database behind (the relay's engine opens files read-write,
    never creating one)."""
    missing = tmp_path / "typo.db"
    assert await _cli("outbox", "status", "--db", f"sqlite:///{missing}") == 1
    assert "unable to open database file" in capsys.readouterr().err
    assert not missing.exists()


async def test_relay_says_which_database_as_given_with_its_password_hidden(
    database: Database, hub: LocalHub, tmp_path: Path
) -> None:
    """`tfso-events relay` names its database as the URL was given (not the SQLite URI
    its engine opens), the password replaced by ***, and exits 0 on SIGTERM."""
    url = database.url
    if database.dialect == "postgresql":  # trust authentication: any password passes
        url = url.replace("postgres@", "postgres:Sup3rS3cret@")
    log = tmp_path / "relay.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tfso_events", "relay",
            "--table", database.outbox.table.name,
            "--via", "api", "--env", "local", "--endpoint-url", hub.url,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            env=os.environ | {"TFSO_EVENTS_OUTBOX_DB": url},
        )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            while b"relaying" not in log.read_bytes():
                assert process.returncode is None, log.read_text()
                await asyncio.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
    text = log.read_text()
    assert "Sup3rS3cret" not in text
    shown = url.replace("Sup3rS3cret", "***")
    assert f"from {shown} to the events API" in text
