"""Consumers' types check: parse_event's union and event_class's overloads, under both
mypy --strict and pyright, and a non-exhaustive match is reported by both; so is a
router handler of the wrong event type."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CHECKERS = {
    "mypy": [str(BIN / "mypy"), "--strict", "--no-incremental"],
    "pyright": [str(BIN / "pyright"), "--pythonpath", sys.executable],
}


def _check(checker: str, path: Path) -> subprocess.CompletedProcess[str]:
    if not (BIN / checker).exists():
        pytest.fail(f"{checker} is not installed in {BIN} (it is in the dev extra)")
    return subprocess.run(
        [*CHECKERS[checker], str(path)], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_an_exhaustive_match_over_parse_event_checks(checker: str) -> None:
    """Matching every catalog event plus UnknownEvent leaves nothing for assert_never,
    and event_class("<literal>") is the literal's class, for both checkers."""
    done = _check(checker, HERE / "exhaustive.py")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_a_missing_case_is_reported(checker: str, tmp_path: Path) -> None:
    """The same match without BankTransactionStatusChangedV1Event is an error at
    assert_never for both checkers: the union really is the catalog, not ``TfsoEvent``."""
    source = (HERE / "exhaustive.py").read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "CASE-TO-DROP" in line)
    missing = tmp_path / "missing.py"
    missing.write_text("".join(lines[:at] + lines[at + 2 :]), encoding="utf-8")
    done = _check(checker, missing)
    assert done.returncode != 0
    assert "BankTransactionStatusChangedV1Event" in done.stdout, done.stdout


@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_a_pattern_with_a_detail_filter_checks(checker: str) -> None:
    """event_pattern() returns an EventPattern that takes detail filters, operator
    expressions and $or under both checkers (it was dict[str, list[str]])."""
    done = _check(checker, HERE / "patterns.py")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_router_handlers_of_their_event_types_check(checker: str) -> None:
    """router.on() takes handlers of the classes it names (one, several as a union, a
    base class, with a RecordContext, async) and on_unknown one of UnknownEvent."""
    done = _check(checker, HERE / "router.py")
    assert done.returncode == 0, done.stdout + done.stderr


WRONG = """

@router.on(BankTransactionCreatedV1Event)
def wrong(event: BankTransactionDeletedV1Event) -> None:
    print(event.detail.content.status)
"""


@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_a_handler_of_the_wrong_event_type_is_reported(checker: str, tmp_path: Path) -> None:
    """@router.on(BankTransactionCreatedV1Event) on a function of a
    BankTransactionDeletedV1Event is an error for both checkers (it passed mypy --strict)."""
    wrong = tmp_path / "wrong.py"
    wrong.write_text((HERE / "router.py").read_text(encoding="utf-8") + WRONG, encoding="utf-8")
    done = _check(checker, wrong)
    assert done.returncode != 0
    assert "BankTransactionDeletedV1Event" in done.stdout, done.stdout
    reported = {int(m) for m in re.findall(r"wrong\.py:(\d+)", done.stdout)}
    first = len((HERE / "router.py").read_text(encoding="utf-8").splitlines()) + 1
    assert reported, done.stdout
    assert min(reported) >= first, done.stdout  # only the appended handler is wrong
