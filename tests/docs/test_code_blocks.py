"""Every code block in README.md and docs/ runs, so the documentation cannot drift.

- ``python`` blocks run exactly as printed, as scripts in a fresh interpreter whose
  environment is the reader's with only the ``export`` lines of ``tfso-events hub``'s
  banner added (as the README says to do), so the examples publish for real to the hub
  started that way. ``aws_cdk`` is not a dependency: blocks importing it get a small
  recording stand-in that checks the arguments CDK would receive.
- Every ``python`` block also passes ``mypy --strict`` (one run over all of them).
- ``json`` and ``toml`` blocks must parse.
- ``sh`` blocks: ``make`` lines must name a target of the Makefile (running ``make test``
  inside ``make test`` would recurse); ``tfso-events`` lines run through the real entry
  point, except the long-running ``hub``/``tail``/``demo``/``publish``/``relay``, whose
  arguments are checked by the command's own parser (``--help`` after them), and are run
  by the CLI tests (``relay`` by tests/outbox/test_crash.py).
- ``text`` blocks are output samples, not code. Any other language fails the test.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
LONG_RUNNING = {"hub", "tail", "demo", "publish", "relay"}
TFSO_EVENTS = str(Path(sys.executable).with_name("tfso-events"))

CDK_STUB = '''
"""A recording stand-in for the parts of aws_cdk the docs use."""
CALLS = []


class _Construct:
    def __init__(self, scope=None, construct_id=None, **kwargs):
        CALLS.append((type(self).__name__, construct_id, kwargs))
        self.kwargs = kwargs


class App(_Construct):
    pass


class Stack(_Construct):
    pass
'''
CDK_EVENTS = """
from aws_cdk import _Construct, CALLS


class EventPattern:
    def __init__(self, *, source=None, detail_type=None, **rest):
        assert not rest, rest
        for value in (source, detail_type):
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), value
        self.source, self.detail_type = source, detail_type
        CALLS.append(("EventPattern", None, {"source": source, "detail_type": detail_type}))


class EventBus(_Construct):
    @classmethod
    def from_event_bus_name(cls, scope, construct_id, name):
        assert name.startswith("tfso-") and name.endswith("-events"), name
        return cls(scope, construct_id, event_bus_name=name)


class Rule(_Construct):
    def __init__(self, scope, construct_id, *, event_pattern, **kwargs):
        assert isinstance(event_pattern, EventPattern)
        super().__init__(scope, construct_id, event_pattern=event_pattern, **kwargs)
"""
CDK_TARGETS = """
from aws_cdk import _Construct


class SqsQueue(_Construct):
    def __init__(self, queue, **kwargs):
        super().__init__(None, None, queue=queue, **kwargs)
"""
CDK_SQS = """
from aws_cdk import _Construct

IQueue = object


class Queue(_Construct):
    pass


class DeadLetterQueue:
    def __init__(self, *, max_receive_count, queue):
        assert isinstance(max_receive_count, int) and isinstance(queue, Queue)
        self.max_receive_count, self.queue = max_receive_count, queue
"""
CDK_LAMBDA = """
from aws_cdk import _Construct


class Function(_Construct):
    def add_event_source(self, source):
        self.kwargs.setdefault("event_sources", []).append(source)


class Runtime:
    PYTHON_3_12 = "python3.12"


class Code:
    @staticmethod
    def from_asset(path):
        return ("asset", path)
"""
CDK_EVENT_SOURCES = """
from aws_cdk import _Construct


class SqsEventSource(_Construct):
    def __init__(self, queue, *, report_batch_item_failures=False, batch_size=None, **kwargs):
        assert isinstance(report_batch_item_failures, bool)
        super().__init__(None, None, queue=queue, batch_size=batch_size,
                         report_batch_item_failures=report_batch_item_failures, **kwargs)
"""


def _blocks() -> list[tuple[str, int, str, str]]:
    found = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        for index, match in enumerate(FENCE.finditer(text)):
            found.append((str(path.relative_to(ROOT)), index, match.group(1), match.group(2)))
    return found


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def hub_exports() -> Iterator[dict[str, str]]:
    """``tfso-events hub`` as the README tells the reader to start it (on a free port),
    and the ``export`` lines its banner prints: the only environment the blocks get."""
    hub = subprocess.Popen(
        [TFSO_EVENTS, "hub", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TFSO_EVENTS_"))},
    )
    assert hub.stdout is not None
    exports: dict[str, str] = {}
    banner: list[str] = []
    try:
        for line in hub.stdout:
            banner.append(line)
            if match := re.match(r"\s*export (\w+)=(\S+)$", line):
                exports[match.group(1)] = match.group(2)
            if line.startswith("Ctrl-C stops the hub"):
                break
        assert "TFSO_EVENTS_API_URL" in exports, "".join(banner)
        yield exports
    finally:
        hub.send_signal(signal.SIGINT)
        try:
            hub.wait(timeout=10)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        hub.stdout.close()


@pytest.fixture
def doc_env(hub_exports: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The reader's environment with the hub's exports pasted in, plus an aws_cdk
    stand-in on ``PYTHONPATH`` (what ``pip install aws-cdk-lib`` would give)."""
    stubs = tmp_path / "stubs" / "aws_cdk"
    stubs.mkdir(parents=True)
    (stubs / "__init__.py").write_text(CDK_STUB)
    (stubs / "aws_events.py").write_text(CDK_EVENTS)
    (stubs / "aws_events_targets.py").write_text(CDK_TARGETS)
    (stubs / "aws_sqs.py").write_text(CDK_SQS)
    (stubs / "aws_lambda.py").write_text(CDK_LAMBDA)
    (stubs / "aws_lambda_event_sources.py").write_text(CDK_EVENT_SOURCES)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "TFSO_EVENTS_"))
    }
    env.update(hub_exports, PYTHONPATH=str(tmp_path / "stubs"))
    return env


async def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode(errors="replace")


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w-]+):", text, re.M))


@pytest.mark.parametrize(
    ("path", "index", "language", "code"),
    BLOCKS,
    ids=[f"{path}#{index}-{language or 'plain'}" for path, index, language, _ in BLOCKS],
)
async def test_code_block_runs(
    path: str, index: int, language: str, code: str, doc_env: dict[str, str], tmp_path: Path
) -> None:
    """The code block runs (python), parses (json) or names real commands (sh)."""
    if language == "python":
        script = tmp_path / "block.py"
        script.write_text(code, encoding="utf-8")
        status, output = await _run([sys.executable, str(script)], doc_env, tmp_path)
        assert status == 0, f"{path} block {index} failed:\n{output}"
    elif language == "json":
        msgspec.json.decode(code.encode())
    elif language == "toml":
        tomllib.loads(code)
    elif language in {"sh", "console"}:
        targets = _make_targets()
        for raw_line in code.splitlines():
            line = raw_line.split(" #", 1)[0].strip().removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line)
            if words[0] == "make":
                assert set(words[1:]) <= targets, f"{path}: unknown make target in {line!r}"
            elif words[0] in {"tfso-events", ".venv/bin/tfso-events"}:
                argv = [TFSO_EVENTS, *words[1:]]
                if len(words) > 1 and words[1] in LONG_RUNNING:
                    argv.append("--help")
                hub = doc_env["TFSO_EVENTS_API_URL"]
                argv = [a.replace("http://127.0.0.1:8642", hub) for a in argv]
                status, output = await _run(argv, doc_env, ROOT)
                assert status == 0, f"{path}: {line!r} failed:\n{output}"
            elif words[0] in {"pip", "python", "python3", "export", "cd", "git"}:
                continue  # installation and shell set-up, shown for the reader
            else:
                pytest.fail(f"{path} block {index}: no rule to check {line!r}")
    elif language == "text":
        return
    else:
        pytest.fail(f"{path} block {index}: code blocks must be python, json, toml, sh or text")


CDK_MODULES = [
    "aws_events",
    "aws_events_targets",
    "aws_sqs",
    "aws_lambda",
    "aws_lambda_event_sources",
]
ANY_STUB = "from typing import Any\n\ndef __getattr__(name: str) -> Any: ...\n"


def test_every_python_block_passes_mypy_strict(tmp_path: Path) -> None:
    """Every python block of README.md and docs/ type-checks under ``mypy --strict``, as
    a reader's strictly typed service would check it (aws_cdk, not installed, is an
    ``Any`` stub); an error names the file and block."""
    stubs = tmp_path / "stubs" / "aws_cdk"
    stubs.mkdir(parents=True)
    (stubs / "__init__.pyi").write_text(ANY_STUB)
    for module in CDK_MODULES:
        (stubs / f"{module}.pyi").write_text(ANY_STUB)
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    names: dict[str, str] = {}
    for path, index, language, code in BLOCKS:
        if language == "python":
            name = re.sub(r"\W", "_", path) + f"_block{index}.py"
            (blocks / name).write_text(code, encoding="utf-8")
            names[name] = f"{path} block {index}"
    assert len(names) > 30  # the blocks were found
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mypy")), "--strict", "--no-incremental", "."],
        cwd=blocks,
        env={**os.environ, "MYPYPATH": str(tmp_path / "stubs")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = done.stdout
    for name, where in names.items():
        report = report.replace(name, where)
    assert done.returncode == 0, report + done.stderr
