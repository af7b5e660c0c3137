"""The --state file of `tfso-events publish` on its own: what a resume trusts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfso_events.cli._publish_state import StateError, StateFile


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "events.ndjson"
    path.write_text('{"a": 1}\n{"a": 2}\n')
    return path


def _started(state: Path, source: Path) -> None:
    """A state file as a first run leaves it: its header written."""
    first = StateFile(str(state), str(source), resume=False)
    first.open()
    first.close()


def test_nothing_is_written_before_open(tmp_path: Path) -> None:
    """Checking a state writes nothing: a run refused later leaves no state behind."""
    source = _input(tmp_path)
    state = tmp_path / "events.state"
    StateFile(str(state), str(source), resume=False).close()
    assert not state.exists()


def test_a_line_cut_short_is_ignored_and_ended(tmp_path: Path) -> None:
    """A state whose last line a crash cut short ("2" of "21") does not list it, and
    the next confirmation starts on a line of its own instead of being glued to it."""
    source = _input(tmp_path)
    state = tmp_path / "events.state"
    writer = StateFile(str(state), str(source), resume=False)
    writer.open()
    writer.confirm(1)
    writer.close()
    with state.open("a") as raw:
        raw.write("2")  # the crash: no newline
    resumed = StateFile(str(state), str(source), resume=True)
    assert resumed.done == {1}
    resumed.open()
    resumed.confirm(21)
    resumed.close()
    again = StateFile(str(state), str(source), resume=True)
    again.close()
    assert again.done == {1, 21}
    assert state.read_text().splitlines()[1:] == ["1", "21"]


def test_progress_is_never_overwritten_without_resume(tmp_path: Path) -> None:
    """A state file that holds progress is refused without --resume (it would be lost),
    and --resume without one is refused too."""
    source = _input(tmp_path)
    state = tmp_path / "events.state"
    with pytest.raises(StateError, match="does not exist"):
        StateFile(str(state), str(source), resume=True)
    _started(state, source)
    with pytest.raises(StateError, match="add --resume"):
        StateFile(str(state), str(source), resume=False)


def test_another_or_changed_input_is_refused(tmp_path: Path) -> None:
    """The state names its input by path and content: another file, or the same file
    with other bytes (even of the same size), is refused on resume."""
    source = _input(tmp_path)
    state = tmp_path / "events.state"
    _started(state, source)
    other = tmp_path / "other.ndjson"
    other.write_text(source.read_text())
    with pytest.raises(StateError, match="not of"):
        StateFile(str(state), str(other), resume=True)
    source.write_text('{"a": 2}\n{"a": 1}\n')  # same size, reordered
    with pytest.raises(StateError, match="changed since"):
        StateFile(str(state), str(source), resume=True)


def test_not_a_state_file_is_refused(tmp_path: Path) -> None:
    """A file that is not a publish state (here an NDJSON of events) is refused."""
    source = _input(tmp_path)
    with pytest.raises(StateError, match="not a state file"):
        StateFile(str(source), str(source), resume=True)
    assert source.read_text() == '{"a": 1}\n{"a": 2}\n'  # and it is left as it was
