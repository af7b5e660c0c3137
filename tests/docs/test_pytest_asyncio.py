"""docs/testing.md's pytest-asyncio setting is the one the plugin expects: a user's
suite configured with it runs an async tfso_hub test without the plugin's warning."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_TEST = '''
async def test_the_hub_answers(tfso_hub):
    """An async test on the plugin's hub fixture."""
    assert tfso_hub.url.startswith("http://127.0.0.1:")
'''


def _documented() -> str:
    """The ``toml`` block of docs/testing.md that sets the fixture loop scope."""
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```toml\n(.*?)^```", text, re.S | re.M)
    [block] = [b for b in blocks if "asyncio_default_fixture_loop_scope" in b]
    return block


def _pytest(project: Path, config: str) -> subprocess.CompletedProcess[str]:
    (project / "pyproject.toml").write_text(config, encoding="utf-8")
    (project / "test_service.py").write_text(_TEST, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
        check=False,
    )


def test_the_documented_setting_silences_pytest_asyncio(tmp_path: Path) -> None:
    """With the documented block a user's suite passes under -W error; with
    asyncio_mode alone pytest-asyncio's PytestDeprecationWarning fails it (the test
    can fail: the setting is what makes the difference)."""
    with_setting = tmp_path / "with"
    with_setting.mkdir()
    done = _pytest(with_setting, _documented())
    assert done.returncode == 0, done.stdout + done.stderr
    without = tmp_path / "without"
    without.mkdir()
    done = _pytest(without, '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n')
    assert done.returncode != 0
    assert "asyncio_default_fixture_loop_scope" in done.stdout + done.stderr
