"""Helpers for the command's tests: run the real ``tfso-events`` entry point as a child
process, and write record files."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tfso_events.models._base import TfsoEvent
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)

EXE = str(Path(sys.executable).with_name("tfso-events"))
ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without AWS_* and TFSO_EVENTS_*, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TFSO_EVENTS_"))}
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class Done:
    """A finished child: exit ``code``, ``out`` (stdout) and ``err`` (stderr)."""

    code: int
    out: str
    err: str


async def start(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> asyncio.subprocess.Process:
    """Start ``tfso-events *argv`` (asyncio, so a hub on this loop keeps serving)."""
    return await asyncio.create_subprocess_exec(
        EXE,
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env if env is not None else clean_env(),
        cwd=cwd or ROOT,
    )


async def finish(
    proc: asyncio.subprocess.Process, stdin: bytes | None = None, within: float = 60
) -> Done:
    """Wait for ``proc`` (killing it after ``within`` seconds) and collect its output."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), within)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode is not None
    return Done(proc.returncode, out.decode(), err.decode())


async def run(
    *argv: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    within: float = 60,
) -> Done:
    """Run ``tfso-events *argv`` to the end."""
    return await finish(await start(*argv, env=env, cwd=cwd), stdin, within)


def person(name: str) -> BankTestCreatedV1Event:
    """A valid ``bank.test:created@v1`` event whose first name tells it apart."""
    return BankTestCreatedV1Event(
        detail=BankTestCreatedV1Detail(
            content=BankTestCreatedV1Content(
                first_name=name,
                last_name="Doe",
                favorite_color=BankTestCreatedV1FavoriteColor.Green,
                registration_date=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            ),
            timestamp=datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC),
        )
    )


def body(event: TfsoEvent) -> dict[str, Any]:
    """The events API body of ``event``: ``{source, detailType, detail}``."""
    return {
        "source": event.source,
        "detailType": event.detail_type,
        "detail": json.loads(event.detail_json()),
    }


def envelope(
    event: TfsoEvent, event_id: str = "00000000-0000-0000-0000-000000000001"
) -> dict[str, Any]:
    """``event`` as EventBridge delivers it to a consumer."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "123456789012",
        "time": "2024-01-02T03:04:06Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": json.loads(event.detail_json()),
    }


def write_ndjson(path: Path, records: list[dict[str, Any] | str]) -> Path:
    """One record per line; a ``str`` is written as is (for broken lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    """The objects of an NDJSON file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def first_name(record: dict[str, Any]) -> str:
    """The first name in a record's (or a received event's) detail."""
    name: str = record["detail"]["content"]["firstName"]
    return name


def drain(fd: int) -> str:
    """Everything written to a pseudo-terminal until the child closes it; closes ``fd``."""
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the child closed the terminal
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")
