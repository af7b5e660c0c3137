"""`tfso-events --help/--version`, `list`, `schema` and `docs`, through the real entry point."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import EXE, ROOT, clean_env, drain, run
from tfso_events import __version__, event_classes, event_schema

COMMANDS = ["list", "schema", "validate", "publish", "hub", "tail", "demo", "docs"]


async def test_help_lists_every_command_with_one_line_of_help() -> None:
    """`tfso-events --help` names every command, each followed by its one-line help."""
    done = await run("--help")
    assert done.code == 0, done.err
    listing = done.out.split("commands:", 1)[1]
    for name in COMMANDS:
        line = next(line for line in listing.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split(maxsplit=1)) == 2, line  # the name, then its help


async def test_version_prints_the_package_version() -> None:
    """`tfso-events --version` prints the installed version and exits 0."""
    done = await run("--version")
    assert (done.code, done.out.strip()) == (0, f"tfso-events {__version__}")


async def test_list_prints_the_catalog_as_aligned_text_off_a_terminal() -> None:
    """Piped, `list` prints one plain line per event: detail-type, source, module, class."""
    done = await run("list")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].split() == ["detail-type", "source", "module", "class"]
    rows = [line.split() for line in lines[2:]]
    assert rows == [
        [cls.detail_type, cls.source, cls.module, f"{cls.__module__}.{cls.__name__}"]
        for cls in event_classes()
    ]
    assert not {"│", "┃"} & set(done.out)


async def test_list_json_is_machine_readable() -> None:
    """`list --json` prints a JSON array with detailType, source, module and class."""
    done = await run("list", "--json")
    assert done.code == 0, done.err
    assert [row["detailType"] for row in json.loads(done.out)] == [
        cls.detail_type for cls in event_classes()
    ]


def test_list_draws_a_rich_table_on_a_terminal() -> None:
    """On a terminal, with rich installed, `list` draws a table with every detail-type."""
    pytest.importorskip("rich")
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [EXE, "list"], stdout=follower, env=clean_env(COLUMNS="220", TERM="xterm")
    ) as proc:
        os.close(follower)
        screen = drain(leader)
        assert proc.wait(timeout=30) == 0
    assert "┃" in screen or "│" in screen, screen
    for cls in event_classes():
        assert cls.detail_type in screen


def test_list_into_a_closed_pipe_exits_quietly() -> None:
    """`tfso-events list | head -0`: a reader that has gone makes `list` exit 141, as a
    program killed by SIGPIPE does, with no traceback on stderr."""
    with subprocess.Popen(
        [EXE, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env()
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()  # before the command has printed anything
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=30)
    assert "Traceback" not in err, err
    assert code == 141, (code, err)


@pytest.mark.parametrize("columns", [60, 80, 160])
def test_list_never_cuts_the_class_or_detail_type_on_a_terminal(columns: int) -> None:
    """At any terminal width the class to import and the detail-type appear whole on one
    line (other columns wrap, or narrow terminals get one block per event), never cut."""
    pytest.importorskip("rich")
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [EXE, "list"], stdout=follower, env=clean_env(COLUMNS=str(columns), TERM="xterm")
    ) as proc:
        os.close(follower)
        screen = re.sub(r"\x1b\[[0-9;]*m", "", drain(leader))
        assert proc.wait(timeout=30) == 0
    lines = screen.splitlines()
    for cls in event_classes():
        dotted = f"{cls.__module__}.{cls.__name__}"
        assert any(dotted in line for line in lines), (dotted, screen)
        assert any(cls.detail_type in line for line in lines), (cls.detail_type, screen)
    assert "…" not in screen


async def test_schema_prints_the_detail_json_schema() -> None:
    """`schema DETAIL_TYPE` prints event_schema() of that event as JSON."""
    cls = event_classes()[3]
    done = await run("schema", cls.detail_type)
    assert done.code == 0, done.err
    assert json.loads(done.out) == event_schema(cls)


async def test_schema_of_an_unknown_detail_type_exits_2_and_lists_the_known() -> None:
    """An unknown detail-type is exit 2, with every known detail-type on stderr."""
    done = await run("schema", "bank.nothing:happened@v9")
    assert done.code == 2
    assert done.out == ""
    assert "bank.nothing:happened@v9" in done.err
    for cls in event_classes():
        assert cls.detail_type in done.err


async def test_docs_out_writes_the_committed_event_pages(tmp_path: Path) -> None:
    """`docs --out DIR` writes exactly the pages committed under docs/events/."""
    out = tmp_path / "pages"
    done = await run("docs", "--out", str(out))
    assert done.code == 0, done.err
    committed = sorted(p.name for p in (ROOT / "docs" / "events").glob("*.md"))
    assert sorted(p.name for p in out.iterdir()) == committed
    for name in committed:
        assert (out / name).read_bytes() == (ROOT / "docs" / "events" / name).read_bytes(), name
