"""The package as users get it: ``python -m build`` makes a wheel, which installs in a
fresh venv and works there (CI runs this in ``make test``; about 8 s)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tfso_events

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: What a consumer-only Lambda imports: the event, the parser, the router. The child
#: prints the third-party top-level modules that loaded.
CONSUMER = """
import json, sys
from tfso_events import parse_event
from tfso_events.consume import EventRouter
from tfso_events.examples import sample_events
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event

router = EventRouter()
seen = []
router.on(BankTestCreatedV1Event)(lambda event: seen.append(event.detail.content.first_name))
event = sample_events()[0]
envelope = {"version": "0", "id": "1", "detail-type": event.detail_type,
            "source": event.source, "account": "1", "time": "2026-01-01T00:00:00Z",
            "region": "eu-west-1", "resources": [],
            "detail": json.loads(event.detail_json())}
assert type(parse_event(envelope)) is BankTestCreatedV1Event
router.lambda_handler(envelope, None)
assert seen == [event.detail.content.first_name]
stdlib = set(sys.stdlib_module_names)
ours = {"tfso_events", "__main__"}
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} - stdlib - ours)))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``python -m build --wheel`` makes of this checkout."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    [built] = out.glob("tfso_events-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and msgspec only (``--no-deps``: the consumer-only
    install), installed by pip from the outer venv."""
    where = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    subprocess.run(
        [
            *(str(BIN / "pip"), "--python", str(where / "bin" / "python")),
            *("install", "--quiet", "--no-deps", "-c", str(ROOT / "constraints.txt")),
            *(str(wheel), "msgspec"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return where


def test_the_wheel_holds_the_package_and_nothing_else(wheel: Path) -> None:
    """The wheel has the modules, py.typed, the schemas the catalog reads and the
    generated models; no tests or docs; its metadata names the runtime dependencies and
    the two entry points (the command and the pytest plugin)."""
    assert wheel.name == f"tfso_events-{tfso_events.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"tfso_events-{tfso_events.__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    packaged = {n for n in names if not n.startswith(f"{info}/")}
    assert all(n.startswith("tfso_events/") for n in packaged), sorted(packaged)
    assert "tfso_events/py.typed" in packaged
    schemas = {p.name for p in (ROOT / "tfso_events" / "schemas").glob("*.json")}
    assert {n.rsplit("/", 1)[1] for n in packaged if n.startswith("tfso_events/schemas/")} == (
        schemas
    )
    assert "tfso_events/models/bank_test_created_v1.py" in packaged
    requires = {
        line.split(" ", 1)[1].split(">")[0].split(";")[0]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra" not in line
    }
    assert requires == {"msgspec", "aiohttp", "aioboto3", "authlib", "joserfc"}
    assert "tfso-events = tfso_events.cli:main" in entry_points
    assert "tfso_events = tfso_events.pytest_plugin" in entry_points


def test_a_consumer_needs_only_msgspec(venv: Path) -> None:
    """In a fresh venv with the wheel and msgspec alone (what a consumer-only Lambda
    carries), parse_event and the router work and load no third-party module but
    msgspec."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", CONSUMER],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["msgspec"]


def test_the_installed_command_runs(venv: Path) -> None:
    """The wheel's console script is installed and runs: tfso-events --version and
    list (the catalog commands need msgspec only)."""
    exe = str(venv / "bin" / "tfso-events")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"tfso-events {tfso_events.__version__}"
    listed = subprocess.run([exe, "list", "--json"], capture_output=True, text=True, check=True)
    assert [row["detailType"] for row in json.loads(listed.stdout)] == [
        cls.detail_type for cls in tfso_events.event_classes()
    ]
