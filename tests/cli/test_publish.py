"""`tfso-events publish` against a local hub running on the test's own loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.cli.conftest import (
    EXE,
    body,
    clean_env,
    drain,
    envelope,
    finish,
    first_name,
    person,
    read_ndjson,
    run,
    start,
    write_ndjson,
)
from tfso_events.local import LocalHub


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix} {i:03d}" for i in range(count)]


def _via(hub: LocalHub, via: str) -> list[str]:
    return [event.detail["content"]["firstName"] for event in hub.received(via=via)]  # type: ignore[arg-type]


def _target(hub: LocalHub, via: str) -> list[str]:
    """The options that point --via at ``hub``."""
    return ["--via", via, "--env", "local", "--endpoint-url", hub.url]


@pytest.mark.parametrize("via", ["api", "eventbridge"])
async def test_publish_sends_every_record(hub: LocalHub, tmp_path: Path, via: str) -> None:
    """Every record of the file (API bodies and envelopes alike) arrives by the chosen
    door, in several publish_many batches; exit 0 and a summary with the counts."""
    names = _names(via, 25)
    records = [body(person(n)) if i % 2 else envelope(person(n)) for i, n in enumerate(names)]
    path = write_ndjson(tmp_path / "events.ndjson", records)
    done = await run("publish", str(path), *_target(hub, via), "--batch-size", "10")
    assert done.code == 0, done.err
    assert sorted(_via(hub, via)) == names
    assert done.out.startswith("publish: 25 sent, 0 failed, 0 invalid of 25 records")
    assert "events/s" in done.out


async def test_publish_to_a_named_bus(hub: LocalHub, tmp_path: Path) -> None:
    """--bus names the EventBridge bus of every entry."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada"))])
    done = await run("publish", str(path), *_target(hub, "eventbridge"), "--bus", "my-bus")
    assert done.code == 0, done.err
    assert [event.event_bus_name for event in hub.received()] == ["my-bus"]


async def test_api_credentials_come_from_the_environment(hub: LocalHub, tmp_path: Path) -> None:
    """--via api takes the Auth0 application from TFSO_EVENTS_CLIENT_ID/_SECRET and the
    URLs from TFSO_EVENTS_API_URL/_AUTH0_DOMAIN when no option gives them."""
    hub.register_client("billing", "s3cret", ["bank"])
    env = clean_env(
        TFSO_EVENTS_ENVIRONMENT="dev",
        TFSO_EVENTS_API_URL=hub.url,
        TFSO_EVENTS_AUTH0_DOMAIN=hub.url,
        TFSO_EVENTS_CLIENT_ID="billing",
        TFSO_EVENTS_CLIENT_SECRET="s3cret",
    )
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada"))])
    done = await run("publish", str(path), "--via", "api", env=env)
    assert done.code == 0, done.err
    assert [event.client_id for event in hub.received()] == ["billing"]
    assert "s3cret" not in done.out + done.err


@pytest.mark.parametrize(
    ("via", "fault"), [("api", "error_rate"), ("eventbridge", "throttle_rate")]
)
async def test_failed_out_holds_exactly_the_failed_records_ready_to_resend(
    hub: LocalHub, tmp_path: Path, via: str, fault: str
) -> None:
    """With faults and one attempt per event, some records fail: exit 1, --failed-out
    holds exactly those not at the hub (as read, plus a reason), and publishing that
    file again once the fault is gone delivers them all."""
    names = _names(via, 30)
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in names])
    failed = tmp_path / "failed.ndjson"
    setattr(hub.faults, fault, 0.5)
    done = await run(
        "publish", str(path), *_target(hub, via), "--max-attempts", "1",
        "--failed-out", str(failed),
    )  # fmt: skip
    arrived = set(_via(hub, via))
    rejected = read_ndjson(failed)
    assert done.code == 1, done.err
    assert 0 < len(arrived) < len(names), "the fault rate should fail some, not all"
    assert sorted(first_name(r) for r in rejected) == sorted(set(names) - arrived)
    code = "http_503" if via == "api" else "ThrottlingException"
    assert all(r["reason"].startswith(f"failed: {code}") for r in rejected)
    # Apart from the reason, each line is the record exactly as it was read.
    originals = {first_name(r): r for r in read_ndjson(path)}
    assert all({k: v for k, v in r.items() if k != "reason"} == originals[first_name(r)]
               for r in rejected)  # fmt: skip
    assert f"{len(arrived)} sent, {len(rejected)} failed, 0 invalid" in done.out

    hub.faults.reset()
    again = await run("publish", str(failed), *_target(hub, via))
    assert again.code == 0, again.err
    assert sorted(_via(hub, via)) == names


async def test_invalid_records_are_reported_never_sent_and_kept(
    hub: LocalHub, tmp_path: Path
) -> None:
    """Invalid records and lines that are not JSON are reported by line and never sent;
    the invalid records go to --failed-out with their reason; exit 1."""
    pink = body(person("Bob"))
    pink["detail"]["content"]["favoriteColor"] = "Pink"
    path = write_ndjson(
        tmp_path / "events.ndjson",
        [body(person("Ada")), pink, "{oops", envelope(person("Cy"))],
    )
    failed = tmp_path / "failed.ndjson"
    done = await run("publish", str(path), *_target(hub, "api"), "--failed-out", str(failed))
    assert done.code == 1
    assert sorted(_via(hub, "api")) == ["Ada", "Cy"]
    assert f"{path}:2: invalid: bank.test:created@v1 $.detail.content.favoriteColor" in done.err
    assert f"{path}:3: invalid: not JSON" in done.err
    assert "2 sent, 0 failed, 2 invalid of 4 records" in done.out
    (kept,) = read_ndjson(failed)
    assert first_name(kept) == "Bob"
    assert kept["reason"].startswith("invalid: bank.test:created@v1 $.detail.content")


async def test_an_event_over_the_putevents_size_limit_is_invalid_alone(
    hub: LocalHub, tmp_path: Path
) -> None:
    """An event EventBridge's size limit refuses (which fails its whole publish_many
    call) is reported as invalid by line; the rest of its batch is still sent."""
    records = [body(person(n)) for n in _names("s", 5)]
    records[2]["detail"]["metadata"] = {"padding": "x" * 300_000}
    path = write_ndjson(tmp_path / "events.ndjson", records)
    failed = tmp_path / "failed.ndjson"
    done = await run(
        "publish", str(path), *_target(hub, "eventbridge"), "--failed-out", str(failed)
    )
    assert done.code == 1
    assert sorted(_via(hub, "eventbridge")) == ["s 000", "s 001", "s 003", "s 004"]
    assert f"{path}:3: invalid: bank.test:created@v1" in done.err
    assert [first_name(r) for r in read_ndjson(failed)] == ["s 002"]
    assert "4 sent, 0 failed, 1 invalid of 5 records" in done.out


async def test_refused_credentials_stop_at_the_first_record(hub: LocalHub, tmp_path: Path) -> None:
    """When Auth0 refuses the credentials, the first record (sent alone) fails and
    publish stops there instead of going through the file: exit 1, that record in
    --failed-out, nothing else sent or listed, and the secret nowhere in the output."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in _names("a", 30)])
    failed = tmp_path / "failed.ndjson"
    done = await run(
        "publish", str(path), *_target(hub, "api"), "--batch-size", "10",
        "--client-id", "local-client", "--client-secret", "not-the-secret",
        "--failed-out", str(failed),
    )  # fmt: skip
    assert done.code == 1
    assert hub.count() == 0
    assert done.out.startswith(
        "publish: stopped after record 1 (line 1), the first record could not be delivered"
    )
    assert "0 sent, 1 failed, 0 invalid, 0 unconfirmed, 9 not sent of 10 records" in done.out
    assert "nothing after record 1 was sent" in done.out
    assert [line.split(": ")[0] for line in done.err.splitlines()] == [f"{path}:1"]
    assert [first_name(r) for r in read_ndjson(failed)] == ["a 000"]
    assert hub.token_attempts <= 2
    assert "not-the-secret" not in done.out + done.err + failed.read_text()


@pytest.mark.parametrize("via", ["api", "eventbridge"])
async def test_a_closed_port_stops_at_once_with_one_message(tmp_path: Path, via: str) -> None:
    """Nothing listens at the endpoint: publish stops after the first record's short
    retry budget (seconds, not the 60 s deadline per record) with one failure line,
    no botocore or aiohttp noise, and says the rest was not sent."""
    with socket.socket() as sock:  # a port that was free a moment ago: nothing answers
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    records = [body(person(n)) for n in _names("c", 500)]
    path = write_ndjson(tmp_path / "events.ndjson", records)
    started = time.monotonic()
    done = await run(
        "publish", str(path), "--via", via, "--env", "local",
        "--endpoint-url", f"http://127.0.0.1:{port}",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.code == 1
    assert elapsed < 30, elapsed
    listed = [line for line in done.err.splitlines() if not line.startswith("publish via ")]
    (line,) = listed  # one record (besides progress lines); no warnings, no traceback
    assert line.startswith(f"{path}:1: failed: ")
    assert "connection_error" in line
    assert done.out.startswith("publish: stopped after record 1 (line 1), the first record")
    assert "0 sent, 1 failed, 0 invalid, 0 unconfirmed, 499 not sent" in done.out
    assert "nothing after record 1 was sent" in done.out


async def test_without_failed_out_the_first_failures_are_listed_and_the_rest_counted(
    hub: LocalHub, tmp_path: Path
) -> None:
    """Without --failed-out, the first 10 bad records are printed with line and reason;
    the others are counted by reason in the summary instead of flooding the terminal."""
    hub.faults.error_rate = 1.0
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in _names("x", 25)])
    done = await run("publish", str(path), *_target(hub, "api"), "--max-attempts", "1")
    assert done.code == 1
    failures = [line for line in done.err.splitlines() if ": failed: http_503" in line]
    assert len(failures) == 10
    assert {line.split(": ")[0] for line in failures} <= {f"{path}:{n}" for n in range(1, 26)}
    assert "more bad records are counted in the summary, not listed" in done.err
    assert "0 sent, 25 failed, 0 invalid" in done.out
    assert "publish: not listed above: 15 http_503" in done.out


async def test_ctrl_c_waits_for_the_answers_in_flight_and_resume_sends_the_rest_once(
    hub: LocalHub, tmp_path: Path
) -> None:
    """SIGINT mid-file: publish stops reading, waits for the answers to what is in
    flight, and reports exactly what the hub stored (none unconfirmed); --state records
    it, and the same command with --resume sends the rest: every record at the hub
    exactly once, no duplicates."""
    names = _names("slow", 60)
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in names])
    failed, state = tmp_path / "failed.ndjson", tmp_path / "events.state"
    hub.faults.latency = 0.05
    argv = [
        "publish", str(path), *_target(hub, "api"), "--concurrency", "2", "--batch-size", "8",
        "--failed-out", str(failed), "--state", str(state),
    ]  # fmt: skip
    proc = await start(*argv)
    async with asyncio.timeout(30):  # until several batches are done and one is in flight
        while hub.count() < 12:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    done = await finish(proc)
    assert done.code == 130, done.err
    assert "Traceback" not in done.err
    assert "tfso-events publish: stopping" in done.err  # (waiting, unless between batches)
    summary = done.out.splitlines()[0]
    assert summary.startswith("publish: interrupted after record ")
    sent = int(summary.split(": ", 2)[2].split(" sent")[0])
    assert sent == hub.count() < len(names)  # every answer in flight was awaited
    assert f", 0 unconfirmed, 0 not sent of {sent} records" in summary
    assert read_ndjson(failed) == []
    assert "run the same command again with --resume" in done.out

    again = await run(*argv, "--resume")
    assert again.code == 0, again.err
    assert f"{len(names) - sent} sent, 0 failed" in again.out
    assert f"{sent} skipped (sent before" in again.out
    assert sorted(_via(hub, "api")) == names  # each exactly once


async def test_a_second_ctrl_c_stops_waiting_and_keeps_the_unconfirmed_apart(
    hub: LocalHub, tmp_path: Path
) -> None:
    """A second SIGINT gives up on the answers in flight: those records are reported as
    unconfirmed (not sent, not failed) and written to --unconfirmed-out; the confirmed
    ones all arrived, and what arrived is confirmed or unconfirmed, never unaccounted."""
    names = _names("slow", 40)
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in names])
    failed, unconfirmed = tmp_path / "failed.ndjson", tmp_path / "unconfirmed.ndjson"
    hub.faults.latency = 1.0
    proc = await start(
        "publish", str(path), *_target(hub, "api"), "--concurrency", "4", "--batch-size", "20",
        "--failed-out", str(failed), "--unconfirmed-out", str(unconfirmed),
    )  # fmt: skip
    async with asyncio.timeout(30):  # the probe answered, and the rest is in flight
        while hub.api_requests < 2:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    await asyncio.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    done = await finish(proc)
    assert done.code == 130, done.err
    summary = done.out.splitlines()[0]
    sent = int(summary.split(": ", 2)[2].split(" sent")[0])
    kept = [first_name(r) for r in read_ndjson(unconfirmed)]
    assert kept
    assert f", {len(kept)} unconfirmed" in summary
    assert all(r["reason"].startswith("unconfirmed") for r in read_ndjson(unconfirmed))
    assert read_ndjson(failed) == []
    arrived = set(_via(hub, "api"))
    assert sent + len(kept) == 20  # the batch in flight: each confirmed or unconfirmed
    assert sent <= len(arrived)
    assert arrived <= set(names[:20])
    assert set(kept) <= set(names[:20])
    assert arrived - set(kept) <= set(names[:20])  # what arrived was confirmed or is kept


async def test_state_files_refuse_what_would_resume_wrongly(hub: LocalHub, tmp_path: Path) -> None:
    """--state refuses to overwrite an earlier run's progress without --resume, and
    --resume refuses a state file of another input (exit 2, nothing sent)."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in _names("s", 3)])
    other = write_ndjson(tmp_path / "other.ndjson", [body(person("Zed"))])
    state = tmp_path / "events.state"
    first = await run("publish", str(path), *_target(hub, "api"), "--state", str(state))
    assert first.code == 0, first.err
    assert hub.count() == 3
    again = await run("publish", str(path), *_target(hub, "api"), "--state", str(state))
    assert again.code == 2
    assert "add --resume" in again.err
    wrong = await run(
        "publish", str(other), *_target(hub, "api"), "--state", str(state), "--resume"
    )
    assert wrong.code == 2
    assert "not of" in wrong.err
    done = await run("publish", str(path), *_target(hub, "api"), "--state", str(state), "--resume")
    assert done.code == 0
    assert "0 sent" in done.out
    assert "3 skipped" in done.out
    assert hub.count() == 3


async def test_progress_bar_on_a_terminal(hub: LocalHub, tmp_path: Path) -> None:
    """With rich and a terminal on stderr, publish draws a progress bar with the counts;
    the summary still goes to stdout."""
    pytest.importorskip("rich")
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in _names("p", 30)])
    leader, follower = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        EXE, "publish", str(path), *_target(hub, "api"), "--batch-size", "10",
        stdout=asyncio.subprocess.PIPE, stderr=follower, env=clean_env(COLUMNS="160"),
    )  # fmt: skip
    os.close(follower)
    screen, (out, _) = await asyncio.gather(asyncio.to_thread(drain, leader), proc.communicate())
    assert proc.returncode == 0, screen
    assert "━" in screen
    assert "30 read, 30 sent, 0 failed, 0 invalid" in screen
    assert out.decode().startswith("publish: 30 sent")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--via", "api", "--env", "local", "--bus", "b"], "--bus applies to --via eventbridge"),
        (["--via", "api", "--env", "staging"], "unknown environment 'staging'"),
        (["--via", "eventbridge", "--env", "dev", "--client-id", "x"], "apply to --via api"),
        (["--via", "api", "--env", "local", "--retry-deadline", "0"], "needs --max-attempts"),
        (["--via", "api", "--env", "local", "--resume"], "--resume needs --state"),
    ],
)
async def test_usage_errors_exit_2_before_sending(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    """Options that do not fit together, or an unknown environment, exit 2 with a message."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada"))])
    done = await run("publish", str(path), *extra)
    assert done.code == 2
    assert message in done.err


async def test_failed_out_cannot_overwrite_the_input(tmp_path: Path) -> None:
    """--failed-out naming the input file is refused (exit 2) and the file is untouched."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada"))])
    before = path.read_bytes()
    done = await run("publish", str(path), "--via", "api", "--failed-out", str(path))
    assert done.code == 2
    assert "must not be the input file" in done.err
    assert path.read_bytes() == before


async def test_a_signal_during_the_probe_sends_nothing_more(hub: LocalHub, tmp_path: Path) -> None:
    """Ctrl-C while the first record (sent alone) is in flight: its answer is awaited,
    and the other records of the batch are never handed over: 1 sent, 19 not sent,
    none unconfirmed, and the summary says nothing after record 1 was sent."""
    names = _names("p", 20)
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in names])
    hub.faults.latency = 1.0
    proc = await start("publish", str(path), *_target(hub, "api"), "--batch-size", "20")
    async with asyncio.timeout(30):
        while hub.api_requests < 1:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    done = await finish(proc)
    assert done.code == 130, done.err
    assert done.out.startswith("publish: interrupted after record 1 (line 1): 1 sent")
    assert ", 0 unconfirmed, 19 not sent of 20 records" in done.out
    assert "nothing after record 1 was sent" in done.out
    assert "answers to 1 event in flight" in done.err
    assert _via(hub, "api") == names[:1]
    assert hub.api_requests == 1


async def test_a_signal_while_waiting_for_input_stops_at_once(
    hub: LocalHub, tmp_path: Path
) -> None:
    """Reading a pipe that has nothing to read does not make publish deaf: SIGTERM stops
    it at once, and what is written to the pipe afterwards is never sent."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    proc = await start("publish", str(fifo), *_target(hub, "api"), "--batch-size", "5")
    writer = await asyncio.to_thread(open, fifo, "w")
    try:
        for name in _names("f", 5):
            writer.write(json.dumps(body(person(name))) + "\n")
        writer.flush()
        async with asyncio.timeout(30):
            while hub.count() < 5:  # noqa: ASYNC110 - the hub has no arrival hook
                await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        done = await finish(proc, within=10)
        with contextlib.suppress(BrokenPipeError):
            writer.write(json.dumps(body(person("late"))) + "\n")
            writer.flush()
    finally:
        with contextlib.suppress(BrokenPipeError):
            writer.close()
    assert done.code == 130, done.err
    assert done.out.startswith("publish: interrupted after record 5 (line 5): 5 sent")
    assert hub.count() == 5


async def test_the_probe_keeps_to_max_attempts(hub: LocalHub, tmp_path: Path) -> None:
    """With every request throttled and --max-attempts 2, the first record is tried
    exactly twice in all (the short probe budget does not add tries), then reported."""
    hub.faults.error_rate = 1.0
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada"))])
    done = await run("publish", str(path), *_target(hub, "api"), "--max-attempts", "2")
    assert done.code == 1
    assert hub.api_requests == 2
    assert "gave up after 2 attempts" in done.err


async def test_the_probe_gives_a_throttled_record_the_rest_of_its_patience(
    hub: LocalHub, tmp_path: Path
) -> None:
    """A first record throttled for longer than the probe's 5 s is not reported failed:
    it is sent again under the user's policy and arrives once the throttling ends."""
    hub.faults.error_rate = 1.0
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada")), body(person("Bo"))])
    proc = await start("publish", str(path), *_target(hub, "api"))
    await asyncio.sleep(7)  # past the probe's budget
    hub.faults.error_rate = 0.0
    done = await finish(proc)
    assert done.code == 0, done.out + done.err
    assert done.out.startswith("publish: 2 sent, 0 failed")
    assert sorted(_via(hub, "api")) == ["Ada", "Bo"]


async def test_one_failing_record_does_not_stop_a_small_batch(
    hub: LocalHub, tmp_path: Path
) -> None:
    """With --batch-size 1, a first record refused for a passing reason (a 503) is not
    taken for a broken setup: every record is tried and reported."""
    hub.faults.error_rate = 1.0
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in _names("b", 5)])
    done = await run(
        "publish", str(path), *_target(hub, "api"), "--batch-size", "1", "--max-attempts", "1"
    )
    assert done.code == 1
    assert done.out.startswith("publish: 0 sent, 5 failed, 0 invalid of 5 records")
    assert hub.api_requests == 5


async def test_a_refused_state_leaves_the_other_files_alone(hub: LocalHub, tmp_path: Path) -> None:
    """A run refused for its --state file (exit 2) writes nothing: the --failed-out of
    the earlier run is kept as it was."""
    pink = body(person("Pink"))
    pink["detail"]["content"]["favoriteColor"] = "Pink"
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada")), pink])
    state, failed = tmp_path / "events.state", tmp_path / "failed.ndjson"
    argv = ["publish", str(path), *_target(hub, "api"), "--state", str(state)]
    first = await run(*argv, "--failed-out", str(failed))
    assert first.code == 1
    kept = failed.read_bytes()
    assert kept
    again = await run(*argv, "--failed-out", str(failed))
    assert again.code == 2
    assert failed.read_bytes() == kept


async def test_a_changed_input_is_refused_on_resume(hub: LocalHub, tmp_path: Path) -> None:
    """--resume refuses the state of an input whose content changed since (here the same
    lines reversed: same path and size), which would skip the wrong records."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in _names("r", 4)])
    state = tmp_path / "events.state"
    first = await run("publish", str(path), *_target(hub, "api"), "--state", str(state))
    assert first.code == 0
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(reversed(lines)))
    done = await run("publish", str(path), *_target(hub, "api"), "--state", str(state), "--resume")
    assert done.code == 2
    assert "changed since" in done.err
    assert hub.count() == 4


async def test_ctrl_c_thrice_still_reports_and_keeps_the_unconfirmed(
    hub: LocalHub, tmp_path: Path
) -> None:
    """Ctrl-C three times in a row: the second stops waiting, the third (if publish is
    still running) changes nothing: the summary is the real one and the records in
    flight are kept as unconfirmed, not lost."""
    names = _names("t", 30)
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in names])
    failed = tmp_path / "failed.ndjson"
    hub.faults.latency = 3.0
    proc = await start(
        "publish", str(path), *_target(hub, "api"), "--failed-out", str(failed),
        "--concurrency", "4",
    )  # fmt: skip
    async with asyncio.timeout(30):
        while hub.api_requests < 2:  # noqa: ASYNC110 - the hub has no arrival hook
            await asyncio.sleep(0.01)
    for _ in range(3):  # (tests/cli/test_publish_signals.py pins the third on its own)
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            proc.send_signal(signal.SIGINT)
        await asyncio.sleep(0.05)  # separate deliveries: the kernel merges pending ones
    done = await finish(proc)
    assert done.code == 130, done.err
    assert done.out.startswith("publish: interrupted after record ")
    summary = done.out.splitlines()[0]
    unconfirmed = read_ndjson(failed)
    assert unconfirmed
    assert f", {len(unconfirmed)} unconfirmed" in summary
    assert "before the first record" not in done.err


async def test_a_json_array_on_one_line_is_summarised_by_record(
    tmp_path: Path,
) -> None:
    """Records are named by number, not only by line: a one-line JSON array whose
    target does not answer stops after record 1, the others counted not sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "events.json"
    path.write_text(json.dumps([body(person(n)) for n in _names("j", 6)]))
    done = await run(
        "publish", str(path), "--via", "api", "--env", "local",
        "--endpoint-url", f"http://127.0.0.1:{port}",
    )  # fmt: skip
    assert done.code == 1
    assert done.out.startswith("publish: stopped after record 1 (line 1)")
    assert "0 sent, 1 failed, 0 invalid, 0 unconfirmed, 5 not sent of 6 records" in done.out


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
async def test_a_failed_out_that_cannot_be_written_is_said(hub: LocalHub, tmp_path: Path) -> None:
    """When --failed-out cannot be written (a full disk), publish does not claim the
    records are there: it says they could not be written, with no traceback, exit 1."""
    pink = body(person("Pink"))
    pink["detail"]["content"]["favoriteColor"] = "Pink"
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada")), pink])
    done = await run("publish", str(path), *_target(hub, "api"), "--failed-out", "/dev/full")
    assert done.code == 1
    assert "Traceback" not in done.err
    assert "written to /dev/full" not in done.out
    assert "the records to resend could not be written" in done.out


async def test_a_signal_while_stdin_is_empty_exits_cleanly(tmp_path: Path) -> None:
    """`publish -` waiting on standard input that has nothing to read: SIGTERM stops it
    with the summary and exit 130 (the blocked reader must not abort the interpreter)."""
    proc = await start("publish", "-", "--via", "api", "--env", "local")
    await asyncio.sleep(2)  # started, and blocked reading stdin
    proc.send_signal(signal.SIGTERM)
    done = await finish(proc, within=20)
    assert done.code == 130, done.err
    assert "Fatal Python error" not in done.err
    assert done.out.startswith("publish: interrupted")


async def test_a_refused_output_leaves_no_state_behind(hub: LocalHub, tmp_path: Path) -> None:
    """A run refused because --failed-out cannot be opened (exit 2) writes no --state,
    so the corrected command runs without --resume."""
    path = write_ndjson(tmp_path / "events.ndjson", [body(person("Ada"))])
    state = tmp_path / "events.state"
    argv = ["publish", str(path), *_target(hub, "api"), "--state", str(state)]
    refused = await run(*argv, "--failed-out", str(tmp_path / "missing" / "failed.ndjson"))
    assert refused.code == 2
    assert not state.exists()
    done = await run(*argv, "--failed-out", str(tmp_path / "failed.ndjson"))
    assert done.code == 0, done.err
    assert hub.count() == 1
