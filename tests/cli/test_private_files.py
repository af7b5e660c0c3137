"""Every file the CLI writes is created 0600, whatever the umask (issue 24, item 4):
``--failed-out`` and ``--unconfirmed-out`` hold whole event payloads, ``--state`` what
was sent, the hub's ``--db`` every event received. Real hub and real command."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import body, person, read_ndjson, run, write_ndjson
from tfso_events._files import create_private, open_private
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common umask 022 (files 0644 by default), for this test and its children."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def test_publish_outputs_are_owner_only(
    hub: LocalHub, tmp_path: Path, open_umask: None
) -> None:
    """publish with --failed-out, --unconfirmed-out and --state under umask 022: all
    three files are 0600, and the failed one holds the payload it should."""
    pink = body(person("Bob"))
    pink["detail"]["content"]["favoriteColor"] = "Pink"
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada")), pink])
    failed, unconfirmed, state = (
        tmp_path / "failed.ndjson", tmp_path / "unconfirmed.ndjson", tmp_path / "run.state"
    )  # fmt: skip
    done = await run(
        "publish", str(path), "--via", "api", "--env", "local",
        "--auth0-domain", hub.url, "--endpoint-url", hub.url,
        "--client-id", DEFAULT_CLIENT_ID, "--client-secret", DEFAULT_CLIENT_SECRET,
        "--failed-out", str(failed), "--unconfirmed-out", str(unconfirmed),
        "--state", str(state),
    )  # fmt: skip
    assert done.code == 1, done.err
    assert [r["detail"]["content"]["firstName"] for r in read_ndjson(failed)] == ["Bob"]
    assert {p.name: mode(p) for p in (failed, unconfirmed, state)} == {
        "failed.ndjson": 0o600,
        "unconfirmed.ndjson": 0o600,
        "run.state": 0o600,
    }


async def test_an_existing_world_readable_output_is_tightened(
    hub: LocalHub, tmp_path: Path, open_umask: None
) -> None:
    """A --failed-out that already exists as 0644 is 0600 once payloads are written."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada"))])
    failed = tmp_path / "failed.ndjson"
    failed.write_text("old\n")
    failed.chmod(0o644)
    done = await run(
        "publish", str(path), "--via", "api", "--env", "local",
        "--auth0-domain", hub.url, "--endpoint-url", hub.url,
        "--failed-out", str(failed),
    )  # fmt: skip
    assert done.code == 0, done.err
    assert mode(failed) == 0o600
    assert failed.read_text() == ""


async def test_the_hub_database_is_owner_only(tmp_path: Path, open_umask: None) -> None:
    """LocalHub(db_path=...) (``tfso-events hub --db``) creates its SQLite file, and the
    WAL and shared-memory files SQLite adds, 0600."""
    from tfso_events import TfsoEventApiClient
    from tfso_events.examples import sample_events

    db = tmp_path / "hub.db"
    async with LocalHub(db_path=db) as hub:
        async with TfsoEventApiClient(
            "local", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_url=hub.url,
            auth0_domain=hub.url,
        ) as client:  # fmt: skip
            await client.publish(sample_events()[0])
        names = sorted(n for n in os.listdir(tmp_path) if n.startswith("hub.db"))
        assert names == ["hub.db", "hub.db-shm", "hub.db-wal"]
        assert {n: mode(tmp_path / n) for n in names} == dict.fromkeys(names, 0o600)


def test_open_private_modes(tmp_path: Path, open_umask: None) -> None:
    """open_private creates 0600 in every write mode, appends without truncating, and
    create_private leaves content alone while tightening."""
    with open_private(tmp_path / "a.bin", "wb") as out:
        out.write(b"1")
    with open_private(tmp_path / "a.bin", "ab") as out:
        out.write(b"2")
    with open_private(tmp_path / "t.txt", "w") as text:
        text.write("x")
    assert (tmp_path / "a.bin").read_bytes() == b"12"
    kept = tmp_path / "kept.db"
    kept.write_bytes(b"data")
    kept.chmod(0o644)
    create_private(kept)
    assert kept.read_bytes() == b"data"
    assert [mode(tmp_path / n) for n in ("a.bin", "t.txt", "kept.db")] == [0o600] * 3
