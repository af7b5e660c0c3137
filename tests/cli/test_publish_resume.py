"""`tfso-events publish --state` when the run is killed or interrupted: what --resume
sends again. The real command as a child process, against a local hub on the test's
own loop."""

from __future__ import annotations

import asyncio
import collections
import signal
from pathlib import Path

from tests.cli.conftest import body, finish, person, read_ndjson, run, start, write_ndjson
from tfso_events.local import LocalHub


def _target(hub: LocalHub) -> list[str]:
    return ["--via", "api", "--env", "local", "--endpoint-url", hub.url]


def _arrivals(hub: LocalHub) -> collections.Counter[str]:
    return collections.Counter(
        str(event.detail["content"]["firstName"]) for event in hub.received(via="api")
    )


def _confirmed(state: Path) -> list[int]:
    return [int(line) for line in state.read_text().splitlines()[1:] if line.isdigit()]


async def test_sigkill_costs_at_most_the_records_in_flight(hub: LocalHub, tmp_path: Path) -> None:
    """SIGKILL in the middle of a 200-record chunk, 4 requests in flight: the state
    file already lists every record whose answer had arrived, so --resume sends again
    at most the 4 in flight (the state used to reach the file only at the end of each
    chunk: everything confirmed in the chunk was sent twice)."""
    names = [f"kill {n:03d}" for n in range(300)]
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in names])
    state = tmp_path / "events.state"
    hub.faults.latency = 0.02
    concurrency = 4
    argv = [
        "publish", str(path), *_target(hub), "--concurrency", str(concurrency),
        "--batch-size", "200", "--state", str(state),
    ]  # fmt: skip
    proc = await start(*argv)
    async with asyncio.timeout(30):  # well into the first chunk
        while hub.count() < 80:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    await finish(proc)
    await asyncio.sleep(0.2)  # (requests the child left on the wire land)
    arrived = set(_arrivals(hub))
    confirmed = _confirmed(state)
    assert len(confirmed) == len(set(confirmed))
    assert {names[n - 1] for n in confirmed} <= arrived
    unconfirmed = len(arrived) - len(confirmed)
    print(f"killed after {len(arrived)} arrived, {len(confirmed)} confirmed in the state")
    assert unconfirmed <= concurrency, unconfirmed

    hub.faults.latency = 0
    again = await run(*argv, "--resume")
    assert again.code == 0, again.err
    counts = _arrivals(hub)
    assert set(counts) == set(names)
    resent = sum(count - 1 for count in counts.values())
    print(f"--resume sent {resent} records twice, of {concurrency} in flight at most")
    assert resent == unconfirmed <= concurrency


async def test_an_interrupted_run_with_failures_gives_one_way_to_resend(
    hub: LocalHub, tmp_path: Path
) -> None:
    """A run with --state and --failed-out, 503s failing some records for good and a
    SIGINT mid-file: the summary gives one way to resend (--resume), says --failed-out
    is for reference only, and following it delivers every record exactly once (the
    summary used to offer both, and following both sent every failed record twice)."""
    names = [f"mixed {n:03d}" for n in range(60)]
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in names])
    failed, state = tmp_path / "failed.ndjson", tmp_path / "events.state"
    hub.faults.latency = 0.05
    argv = [
        "publish", str(path), *_target(hub), "--concurrency", "2", "--batch-size", "10",
        "--max-attempts", "1", "--failed-out", str(failed), "--state", str(state),
    ]  # fmt: skip
    proc = await start(*argv)
    async with asyncio.timeout(30):
        while hub.count() < 3:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.01)
    hub.faults.error_rate = 0.4  # (after the first record: it must not stop the run)
    async with asyncio.timeout(30):
        while hub.api_requests < 25:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    done = await finish(proc)
    assert done.code == 130, done.err
    summary = done.out.splitlines()[0]
    assert summary.startswith("publish: interrupted after record ")
    assert " 0 failed" not in summary  # (the 503s did fail some)
    (way,) = [line for line in done.out.splitlines() if "resend" in line]
    assert "run the same command again with --resume" in way
    assert f"{failed} list those records for reference only" in done.out
    assert "do not send them yourself as well" in done.out
    assert read_ndjson(failed)  # the failures are listed, as promised

    hub.faults.reset()
    again = await run(*argv, "--resume")
    assert again.code == 0, again.err
    counts = _arrivals(hub)
    assert set(counts) == set(names)
    assert max(counts.values()) == 1  # nothing twice
