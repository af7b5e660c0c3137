"""`tfso-events publish` against a local hub running on the test's own loop."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import signal
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


async def test_refused_credentials_stop_after_one_batch(hub: LocalHub, tmp_path: Path) -> None:
    """When Auth0 refuses the credentials for a whole batch, publish stops there instead
    of going through the file: exit 1, that batch in --failed-out, the rest unread, and
    the secret nowhere in the output."""
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
        "publish: stopped after line 10, every event of the last batch failed ("
    )
    assert "lines after 10 were not read" in done.out
    assert [first_name(r) for r in read_ndjson(failed)] == _names("a", 10)
    assert hub.token_attempts <= 10
    assert "not-the-secret" not in done.out + done.err + failed.read_text()


async def test_without_failed_out_every_failure_is_printed(hub: LocalHub, tmp_path: Path) -> None:
    """Without --failed-out, each failed record is printed with its line and reason."""
    hub.faults.error_rate = 1.0
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in _names("x", 25)])
    done = await run("publish", str(path), *_target(hub, "api"), "--max-attempts", "1")
    assert done.code == 1
    failures = [line for line in done.err.splitlines() if ": failed: http_503" in line]
    assert sorted(line.split(": ")[0] for line in failures) == sorted(
        f"{path}:{n}" for n in range(1, 26)
    )


async def test_ctrl_c_stops_cleanly_and_reports_what_was_sent(
    hub: LocalHub, tmp_path: Path
) -> None:
    """SIGINT mid-file cancels the batch in flight, closes the client, reports what was
    confirmed, keeps the unconfirmed records in --failed-out, and exits 130."""
    names = _names("slow", 40)
    path = write_ndjson(tmp_path / "events.ndjson", [body(person(n)) for n in names])
    failed = tmp_path / "failed.ndjson"
    hub.faults.latency = 0.05
    proc = await start(
        "publish", str(path), *_target(hub, "api"), "--concurrency", "1", "--batch-size", "5",
        "--failed-out", str(failed),
    )  # fmt: skip
    async with asyncio.timeout(30):  # until a batch is done and the next is in flight
        while hub.count() < 7:  # noqa: ASYNC110 - the hub has no arrival hook to await
            await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    done = await finish(proc)
    assert done.code == 130, done.err
    assert "Traceback" not in done.err
    summary = done.out.splitlines()[0]
    assert summary.startswith("publish: interrupted after line ")
    sent = int(summary.split(": ", 2)[2].split(" sent")[0])
    arrived = _via(hub, "api")
    unconfirmed = [first_name(r) for r in read_ndjson(failed)]
    # Confirmed ones arrived; the batch in flight is kept, whether or not it arrived.
    assert 5 <= sent <= len(arrived) < len(names)
    assert set(arrived) <= set(names[:sent]) | set(unconfirmed)
    assert len(unconfirmed) == 5 * (sent // 5 + 1) - sent
    assert all(json.loads(line)["reason"].startswith("interrupted") for line in
               failed.read_text().splitlines())  # fmt: skip


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
