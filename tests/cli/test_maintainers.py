"""The maintainers' commands (docs, codegen, compat) work on a checkout of tfso-events
and never write into the directory they are typed in unless asked to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import ROOT
from tests.codegen.conftest import copy_tree

_MAIN = "import sys; from tfso_events.cli import main; sys.exit(main())"


def _run(package_root: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``tfso-events *argv`` importing the package under ``package_root``, in ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(package_root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _installed(tmp_path: Path) -> Path:
    """The package alone, as pip installs it (no pyproject.toml, no docs/ beside it)."""
    site = tmp_path / "site-packages"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tfso_events", site / "tfso_events", ignore=ignore)
    return site


def test_outside_a_checkout_they_refuse_and_write_nothing(tmp_path: Path) -> None:
    """Typed in a service's folder with an installed package, docs, codegen and compat
    exit 2 saying to use a checkout (docs: or --out), and the folder stays empty (docs
    once wrote five files into ./docs/events/)."""
    site = _installed(tmp_path)
    service = tmp_path / "service"
    service.mkdir()
    schema = str(ROOT / "tfso_events" / "schemas" / "bank.test:created@v1.json")
    for argv in (["docs"], ["codegen"], ["codegen", "--check"], ["compat", schema, schema]):
        done = _run(site, service, *argv)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert "checkout of the tfso-events repository" in done.stderr, argv
        assert list(service.iterdir()) == [], argv
    assert "--out DIR" in _run(site, service, "docs").stderr


def test_docs_out_writes_where_it_is_told(tmp_path: Path) -> None:
    """docs --out DIR is asking: it writes the pages there, checkout or not."""
    site = _installed(tmp_path)
    service = tmp_path / "service"
    service.mkdir()
    done = _run(site, service, "docs", "--out", "pages")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (service / "pages").iterdir()) == sorted(
        p.name for p in (ROOT / "docs" / "events").glob("*.md")
    )


def test_in_a_checkout_docs_writes_the_checkouts_pages_not_the_cwds(tmp_path: Path) -> None:
    """From any folder, docs regenerates docs/events/ of the checkout the package runs
    from, and writes nothing into the folder it was typed in."""
    tree = copy_tree(tmp_path / "checkout")
    page = tree / "docs" / "events" / "bank_test_created_v1.md"
    page.write_text("stale\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = _run(tree, elsewhere, "docs")
    assert done.returncode == 0, done.stderr
    assert page.read_bytes() == (ROOT / "docs" / "events" / page.name).read_bytes()
    assert list(elsewhere.iterdir()) == []
