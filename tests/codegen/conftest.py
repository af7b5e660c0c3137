"""Helpers for the codegen tests: a temporary copy of the project tree, and running the
real ``tfso-events`` command (as a child process) inside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tfso_events" / "schemas"


def copy_tree(dest: Path) -> Path:
    """Copy what codegen reads and writes (the package, the event pages, the vectors and
    the ruff configuration) to ``dest``; return it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tfso_events", dest / "tfso_events", ignore=ignore)
    shutil.copytree(ROOT / "docs" / "events", dest / "docs" / "events")
    (dest / "tests" / "vectors").mkdir(parents=True)
    for vector in (ROOT / "tests" / "vectors").glob("*.json"):
        shutil.copy(vector, dest / "tests" / "vectors" / vector.name)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A fresh copy of the project tree."""
    return copy_tree(tmp_path / "tree")


_MAIN = "import sys; from tfso_events.cli import main; sys.exit(main())"


def tfso_events(root: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``tfso-events *argv`` with the package of ``root`` first on the path, so the
    child imports the copy (and what codegen generated in it), never this checkout."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=timeout,
        check=False,
    )


def python(root: Path, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter that imports the package of ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TFSO_EVENTS_"))} | {
        "PYTHONPATH": str(root),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=timeout,
        check=False,
    )
