"""`tfso-events hub` and `tfso-events tail`, run as real processes where it matters."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.local.conftest import api_body, entry, token_form
from tfso_events.cli import COMMANDS, build_parser, command, main
from tfso_events.local import LocalHub

_EXE = Path(sys.executable).with_name("tfso-events")
_URL = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _Lines:
    """Lines of a child's stdout, read by a thread (select() misses buffered text)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._stdout = proc.stdout
        self._lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in iter(self._stdout.readline, ""):
            self._lines.put(line)

    def until(self, pattern: re.Pattern[str], timeout: float) -> str:
        """Lines up to the first that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        seen = ""
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            seen += line
            if pattern.search(line):
                return seen
        raise AssertionError(f"no line matching {pattern.pattern!r} in {timeout}s:\n{seen}")

    def close(self) -> None:
        """After the child exited: wait for the reader to see EOF, then close the pipe."""
        self._thread.join(timeout=10)
        self._stdout.close()


def _http(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


def _publish_one(url: str) -> str:
    """Fetch a token and POST one valid event; return its id."""
    form = urllib.parse.urlencode(token_form()).encode()
    _, token = _http(
        f"{url}/oauth/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    _, answer = _http(
        f"{url}/events",
        json.dumps(api_body("Cli")).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token['access_token']}"},
    )
    event_id: str = answer["eventId"]
    return event_id


def _start_hub(*argv: str) -> tuple[subprocess.Popen[str], _Lines]:
    """Start ``tfso-events hub *argv`` as a child, its stdout read line by line."""
    proc = subprocess.Popen(
        [str(_EXE), "hub", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, _Lines(proc)


def _banner(lines: _Lines) -> tuple[str, str]:
    """The hub's banner, once printed, and the URL it names."""
    banner = lines.until(re.compile("Ctrl-C stops the hub"), timeout=30)
    url = _URL.search(banner).group(1)  # type: ignore[union-attr]
    return banner, url


def _stop(proc: subprocess.Popen[str], lines: _Lines, signum: int) -> tuple[int, str]:
    """Send ``signum``; return the exit code and stderr (killing it if it hangs)."""
    proc.send_signal(signum)
    try:
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        lines.close()
    if proc.stderr is None:
        return code, ""
    with proc.stderr:
        return code, proc.stderr.read()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_hub_command_serves_and_stops_cleanly(signum: int, tmp_path: Path) -> None:
    """`tfso-events hub --port N` prints its URL and how to point both publishers at it,
    issues tokens, takes events, and exits 0 on Ctrl-C (SIGINT) or SIGTERM."""
    port = _free_port()
    db = tmp_path / "hub.db"
    proc, lines = _start_hub("--port", str(port), "--db", str(db), "--token-ttl", "60")
    try:
        banner, url = _banner(lines)
        assert url == f"http://127.0.0.1:{port}"
        for line in (
            "export TFSO_EVENTS_ENVIRONMENT=local",
            f"export TFSO_EVENTS_AUTH0_DOMAIN={url}",
            f"export TFSO_EVENTS_API_URL={url}",
            "export TFSO_EVENTS_CLIENT_ID=local-client",
            "export TFSO_EVENTS_CLIENT_SECRET=local-secret",
            f"export AWS_ENDPOINT_URL_EVENTBRIDGE={url}",
            "export AWS_ACCESS_KEY_ID=",
            "export AWS_SECRET_ACCESS_KEY=",
            "export AWS_DEFAULT_REGION=",
            f'TfsoEventBridgeClient("local", endpoint_url="{url}")',
        ):
            assert line in banner, line
        form = urllib.parse.urlencode(token_form()).encode()
        status, token = _http(
            f"{url}/oauth/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert (status, token["expires_in"], token["scope"]) == (200, 60, "bank crm")
        event_id = _publish_one(url)
    finally:
        code, stderr = _stop(proc, lines, signum)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    # The file store kept the event after the hub stopped.
    with contextlib.closing(sqlite3.connect(db)) as reader:
        assert reader.execute("SELECT event_id FROM events").fetchall() == [(event_id,)]


def test_hub_command_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    """A port already in use is exit code 1 with a message that suggests --port."""
    with LocalHub() as hub:
        assert main(["hub", "--port", str(hub.port)]) == 1
    assert "--port" in capsys.readouterr().err


def test_tail_once_prints_stored_events(capsys: pytest.CaptureFixture[str]) -> None:
    """`tfso-events tail --once` prints the stored events, one line each, and exits 0."""
    with LocalHub() as hub:
        event_id = _publish_one(hub.url)
        assert main(["tail", "--url", hub.url, "--once"]) == 0
        assert main(["tail", "--url", hub.url, "--once", "--json", "--via", "api"]) == 0
        assert main(["tail", "--url", hub.url, "--once", "--via", "eventbridge"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert event_id in lines[0]
    assert " api " in lines[0]
    assert "bank.test:created@v1" in lines[0]
    assert json.loads(lines[1])["eventId"] == event_id


def test_tail_once_without_a_hub_fails(capsys: pytest.CaptureFixture[str]) -> None:
    """`tail --once` against nothing is exit code 1 and says where it looked."""
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["tail", "--url", url, "--once"]) == 1
    assert url in capsys.readouterr().err


def test_tail_follows_new_events_until_ctrl_c() -> None:
    """`tfso-events tail` prints events as they arrive and exits 0 on SIGINT."""
    with LocalHub() as hub:
        _publish_one(hub.url)  # already there: skipped with --last 0
        proc = subprocess.Popen(
            [str(_EXE), "tail", "--url", hub.url, "--last", "0", "--interval", "0.05"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines = _Lines(proc)
        try:
            lines.until(re.compile("following"), timeout=30)  # it took its first look
            request = urllib.request.Request(
                hub.url,
                data=json.dumps({"Entries": [entry("Tailed")]}).encode(),
                headers={
                    "Content-Type": "application/x-amz-json-1.1",
                    "X-Amz-Target": "AWSEvents.PutEvents",
                },
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                event_id = json.load(response)["Entries"][0]["EventId"]
            out = lines.until(re.compile(re.escape(event_id)), timeout=30)
        finally:
            code, _ = _stop(proc, lines, signal.SIGINT)
    assert code == 0, out
    assert out.count("\n") == 1  # only the new event, not the one stored before
    assert "eventbridge" in out
    assert "Tailed" in out


def test_no_command_prints_help_and_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`tfso-events` alone prints the usage with the commands and exits 2."""
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "hub" in err
    assert "tail" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["hub", "--throttle-rate", "1.5"],
        ["hub", "--latency", "-1"],
        ["hub", "--port", "70000"],
        ["hub", "--token-ttl", "0"],
    ],
)
def test_hub_refuses_bad_options(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Out-of-range options are usage errors (exit 2) before anything starts."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "error" in capsys.readouterr().err


def test_commands_register_one_function_each() -> None:
    """Each subcommand is one registered function; names cannot be registered twice."""
    assert {"hub", "tail"} <= set(COMMANDS)
    assert COMMANDS["hub"].run.__name__ == "hub"
    with pytest.raises(ValueError, match="already registered"):
        command("hub", help="again")(lambda args: 0)
    parser = build_parser()
    args = parser.parse_args(["hub", "--port", "9000", "--error-rate", "0.25"])
    assert (args.port, args.error_rate, args.db) == (9000, 0.25, None)


@pytest.mark.parametrize(("text", "rate"), [("2000/s", 2000.0), ("2000", 2000.0), ("0.5/s", 0.5)])
def test_hub_quota_option_reads_a_rate_per_second(text: str, rate: float) -> None:
    """`tfso-events hub --quota N/s` takes entries per second, with or without "/s"."""
    from tfso_events.cli._app import per_second

    assert per_second(text) == rate


@pytest.mark.parametrize("text", ["fast", "0/s", "-3"])
def test_hub_quota_option_refuses_what_is_not_a_positive_rate(text: str) -> None:
    """A --quota that is not a positive number per second is an argparse error."""
    import argparse

    from tfso_events.cli._app import per_second

    with pytest.raises(argparse.ArgumentTypeError):
        per_second(text)


@pytest.mark.parametrize("via", ["eventbridge", "api"])
def test_the_banners_exports_work_as_printed(via: str, tmp_path: Path) -> None:
    """The `export` lines `tfso-events hub` prints, pasted into a shell as they are, point
    `tfso-events publish --via eventbridge` and `--via api` at that hub (on a port that
    is not the default, so no fallback URL could pass for it): every event arrives."""
    from tests.cli.conftest import body, clean_env, person, write_ndjson

    proc, lines = _start_hub("--port", str(_free_port()))
    try:
        banner, url = _banner(lines)
        exports = [
            line.strip() for line in banner.splitlines() if line.strip().startswith("export ")
        ]
        assert len(exports) == 9
        names = [f"Banner{n}" for n in range(3)]
        records = write_ndjson(tmp_path / "in.ndjson", [body(person(n)) for n in names])
        script = "\n".join([*exports, f'"{_EXE}" publish "{records}" --via {via}'])
        done = subprocess.run(
            ["bash", "-c", script],
            env=clean_env(PATH=os.environ["PATH"]),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        with urllib.request.urlopen(f"{url}/events?via={via}", timeout=10) as response:
            stored = json.load(response)
    finally:
        _stop(proc, lines, signal.SIGINT)
    assert sorted(e["detail"]["content"]["firstName"] for e in stored) == names


def test_hub_rules_file_routes_and_tail_shows_the_deliveries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tfso-events hub --rules FILE` loads the rules (the banner counts them), matching
    events are delivered, and `tail --deliveries` lists the dead-letter record of a
    target that never answers."""
    dead = f"http://127.0.0.1:{_free_port()}/nobody"
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            [
                {
                    "Name": "bank-created",
                    "EventPattern": {"detail-type": ["bank.test:created@v1"]},
                    "Targets": [{"Id": "hook", "Arn": dead, "InputPath": "$.detail"}],
                }
            ]
        )
    )
    proc, lines = _start_hub("--port", "0", "--rules", str(rules))
    try:
        banner, url = _banner(lines)
        assert "rules:    1 (bank-created), 1 target" in banner
        event_id = _publish_one(url)
        deadline = time.monotonic() + 15
        out = ""
        while time.monotonic() < deadline and "failed" not in out:
            time.sleep(0.2)
            assert main(["tail", "--url", url, "--once", "--deliveries", "--failed"]) == 0
            out = capsys.readouterr().out
    finally:
        _stop(proc, lines, signal.SIGINT)
    [line] = out.splitlines()
    assert f"failed    rule=bank-created target=hook event={event_id} attempts=3" in line
    assert dead in line


def test_hub_refuses_a_bad_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A rules file with a pattern EventBridge refuses stops the hub with exit code 2,
    naming the file, the rule and the place in the pattern."""
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"Name": "r", "EventPattern": {"source": "x"}}]))
    assert main(["hub", "--port", "0", "--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert f"{rules}: rule 'r': invalid event pattern at `$.source`" in err
