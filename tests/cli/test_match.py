"""`tfso-events match PATTERN [EVENTS]`: which events match, and why the others do not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tfso_events.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "bank-events.ndjson"
CREATED = {
    "detail-type": ["bank.transaction:created@v1"],
    "detail": {"content": {"status": {"code": [{"numeric": [">=", 100]}]}}},
}


def test_each_event_is_a_match_or_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """Each event gets FILE:LINE: match, or no match with the failing path, value and
    pattern; the summary counts both; exit 0 when any matches."""
    assert main(["match", json.dumps(CREATED), str(EXAMPLES)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"{EXAMPLES}:2: match"
    assert lines[0] == (
        f'{EXAMPLES}:1: no match: $.detail-type: "bank.test:created@v1" does not match '
        '["bank.transaction:created@v1"]'
    )
    assert lines[-1] == "match: 4 events: 1 match, 3 do not"


def test_pattern_from_a_file_and_or_branches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pattern file works like inline JSON; a $or mismatch gives one line per branch;
    exit 1 when nothing matches."""
    pattern = tmp_path / "pattern.json"
    pattern.write_text(json.dumps({"$or": [{"source": ["x"]}, {"detail-type": ["y"]}]}))
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"source": "a", "detail-type": "b", "detail": {}}]))
    assert main(["match", str(pattern), str(events)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{events}:1: no match: none of the 2 branches of $or matches:",
        '      1. $.source: "a" does not match ["x"]',
        '      2. $.detail-type: "b" does not match ["y"]',
        "match: 1 event: 0 match, 1 do not",
    ]


def test_only_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    """--only matching / --only failing filter the lines; -q prints the summary only."""
    assert main(["match", json.dumps(CREATED), str(EXAMPLES), "--only", "matching"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{EXAMPLES}:2: match",
        "match: 4 events: 1 match, 3 do not",
    ]
    assert main(["match", json.dumps(CREATED), str(EXAMPLES), "-q"]) == 0
    assert capsys.readouterr().out.splitlines() == ["match: 4 events: 1 match, 3 do not"]


def test_invalid_pattern_and_unreadable_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pattern EventBridge refuses, a missing pattern file or events file: exit 2 with
    the reason on stderr."""
    assert main(["match", '{"source": "x"}', str(EXAMPLES)]) == 2
    assert "invalid event pattern at `$.source`" in capsys.readouterr().err
    assert main(["match", str(tmp_path / "none.json"), str(EXAMPLES)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["match", json.dumps(CREATED), str(tmp_path / "none.ndjson")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_reads_stdin_through_the_entry_point() -> None:
    """With no EVENTS, the events are read from stdin; a line that is not JSON is named."""
    stdin = '{"source": "a", "detail-type": "x"}\nnot json\n'
    done = subprocess.run(
        [str(Path(sys.executable).with_name("tfso-events")), "match", '{"source": ["a"]}'],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "<stdin>:1: match"
    assert lines[1].startswith("<stdin>:2: no match: not JSON")
