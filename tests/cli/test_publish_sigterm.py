"""`tfso-events publish` under SIGTERM (what a container orchestrator sends) behaves
like Ctrl-C: it stops, reports what was sent and writes the --failed-out file."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.cli.conftest import body, finish, first_name, person, read_ndjson, start, write_ndjson
from tfso_events.local import LocalHub


def _target(hub: LocalHub, via: str) -> list[str]:
    return ["--via", via, "--env", "local", "--endpoint-url", hub.url]


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open (Linux /proc)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except OSError:
        return False


NAMES = [f"t {i:03d}" for i in range(60)]


async def _start_slowly(
    hub: LocalHub, tmp_path: Path, via: str, *extra: str
) -> tuple[asyncio.subprocess.Process, Path]:
    """Publish 60 records one request at a time, in batches of 5; returns the child and
    its --failed-out file."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in NAMES])
    failed = tmp_path / "failed.ndjson"
    proc = await start(
        "publish", str(path), *_target(hub, via), "--concurrency", "1", "--batch-size", "5",
        "--failed-out", str(failed), *extra,
    )  # fmt: skip
    return proc, failed


@pytest.mark.parametrize("via", ["api", "eventbridge"])
async def test_sigterm_mid_file_waits_for_the_answers_in_flight(
    hub: LocalHub, tmp_path: Path, via: str
) -> None:
    """SIGTERM while batches are in flight: no more records are read, the answers in
    flight are awaited, and the summary's sent count is exactly what the hub stored;
    exit 130 (not 143), nothing unconfirmed, an empty --failed-out."""
    hub.faults.latency = 0.05
    proc, failed = await _start_slowly(hub, tmp_path, via)
    async with asyncio.timeout(30):
        while hub.count() < 7:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    done = await finish(proc)
    assert done.code == 130, done.err
    assert done.out.startswith("publish: interrupted after record ")
    sent = int(done.out.split(": ", 2)[2].split(" sent")[0])
    assert 5 <= sent == hub.count() < len(NAMES)
    assert ", 0 unconfirmed" in done.out
    assert read_ndjson(failed) == []


@pytest.mark.parametrize("via", ["api", "eventbridge"])
async def test_sigterm_without_grace_keeps_the_unconfirmed(
    hub: LocalHub, tmp_path: Path, via: str
) -> None:
    """With --stop-grace 0, SIGTERM gives up on the answers in flight at once: those
    records are counted unconfirmed and kept in --failed-out, marked so; every other
    record of the file is confirmed sent or was not sent."""
    hub.faults.latency = 1.0
    proc, failed = await _start_slowly(hub, tmp_path, via, "--stop-grace", "0")

    def requests() -> int:  # counted when a request arrives, before its 1 s latency
        return hub.api_requests if via == "api" else hub.put_events_calls

    async with asyncio.timeout(30):  # the third request is in flight for a second
        while requests() < 3:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    done = await finish(proc)
    assert done.code == 130, done.err
    sent = int(done.out.split(": ", 2)[2].split(" sent")[0])
    unconfirmed = read_ndjson(failed)
    assert unconfirmed
    assert f", {len(unconfirmed)} unconfirmed" in done.out
    assert all(r["reason"].startswith("unconfirmed") for r in unconfirmed)
    assert {first_name(r) for r in unconfirmed} <= set(NAMES[sent:])
    assert sent <= hub.count() <= sent + len(unconfirmed)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
async def test_sigterm_while_starting_up_still_reports(hub: LocalHub, tmp_path: Path) -> None:
    """SIGTERM as soon as publish has opened its input (while it imports and opens the
    EventBridge client, before the first batch): exit 130 with a summary and a
    --failed-out file, instead of dying silently with 143."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(f"e {i}")) for i in range(20)])
    failed = tmp_path / "failed.ndjson"
    proc = await start(
        "publish", str(path), *_target(hub, "eventbridge"), "--failed-out", str(failed)
    )
    async with asyncio.timeout(30):
        while not _has_open(proc.pid, path):  # noqa: ASYNC110 - no hook to await
            await asyncio.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    done = await finish(proc)
    assert done.code == 130, (done.code, done.err)
    assert done.out.startswith("publish: interrupted"), done.out
    assert read_ndjson(failed) == []  # nothing was handed over, so nothing is unconfirmed
    assert hub.count() == 0
