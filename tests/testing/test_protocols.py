"""Publisher / SyncPublisher are satisfied by every publisher, checked by mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tfso_events import Publisher, SyncPublisher
from tfso_events.testing import MemoryPublisher, SyncMemoryPublisher

ROOT = Path(__file__).resolve().parents[2]

TYPED = """
from tfso_events import Publisher, SyncPublisher, TfsoEventApiClient, TfsoEventBridgeClient
from tfso_events import sync
from tfso_events.testing import MemoryPublisher, SyncMemoryPublisher

def check(
    a: TfsoEventBridgeClient, b: TfsoEventApiClient, c: MemoryPublisher,
    d: sync.TfsoEventBridgeClient, e: sync.TfsoEventApiClient, f: SyncMemoryPublisher,
) -> None:
    async_ones: list[Publisher] = [a, b, c]
    sync_ones: list[SyncPublisher] = [d, e, f]
"""

WRONG = """
from tfso_events import Publisher, SyncPublisher
from tfso_events import sync
from tfso_events.testing import MemoryPublisher

def check(a: MemoryPublisher, d: sync.TfsoEventBridgeClient) -> None:
    swapped: SyncPublisher = a
    other: Publisher = d
"""


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    module = tmp_path / "service_types.py"
    module.write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(module)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mypy_accepts_every_publisher_as_its_protocol(tmp_path: Path) -> None:
    """mypy --strict accepts both async clients and MemoryPublisher as Publisher, and
    both sync facades and SyncMemoryPublisher as SyncPublisher; it rejects an async
    publisher where a SyncPublisher is wanted and the reverse (so the check can fail)."""
    good = _mypy(tmp_path, TYPED)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _mypy(tmp_path, WRONG)
    assert bad.returncode == 1, bad.stdout
    assert bad.stdout.count("Incompatible types in assignment") == 2, bad.stdout


def test_protocols_are_runtime_checkable() -> None:
    """isinstance() tells the two kinds apart (a runtime guard for a service's input)."""
    publisher = MemoryPublisher()
    assert isinstance(publisher, Publisher)
    with SyncMemoryPublisher() as blocking:
        assert isinstance(blocking, SyncPublisher)
    with pytest.raises(AssertionError):
        assert isinstance(object(), Publisher)
