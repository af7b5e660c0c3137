"""Import time of the consume router: ``from tfso_events.consume import EventRouter``
against the same import from another commit of this repository ("today").

Each sample is a fresh interpreter run with ``python -X importtime``; the figure is the
cumulative microseconds of the ``tfso_events.consume`` entry (which includes the
``tfso_events`` package and everything both pull in), best and median of ``--runs``
samples per tree, the trees interleaved run by run, after one untimed run each (which
writes the bytecode caches, as an installed package has them). The baseline tree is
``git archive <ref> tfso_events`` unpacked in a temporary directory and put first on
``PYTHONPATH``. It also lists which of ``asyncio``, ``ssl`` and the publishing layer
each tree loads.

Run: ``.venv/bin/python -m benchmarks.bench_import --baseline <commit>``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

STMT = "from tfso_events.consume import EventRouter"
WATCHED = (
    "import json, sys; print(json.dumps(sorted(m for m in sys.modules if m in "
    "{'asyncio', 'ssl', 'tfso_events.results', 'tfso_events.publishing._batching'})))"
)
ROOT = Path(__file__).resolve().parent.parent


def _env(path: str) -> dict[str, str]:
    """The environment of a sample: ``path`` first on the path, and bytecode caches
    written and read (PYTHONDONTWRITEBYTECODE, set in some shells and CI images, would
    make every sample compile every module: a measure of source size, not of import)."""
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _sample(path: str) -> float:
    env = _env(path)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", STMT],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=path,
    )
    for line in out.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == "tfso_events.consume":
            return int(parts[1]) / 1000
    raise RuntimeError(f"no tfso_events.consume entry in:\n{out.stderr[-2000:]}")


def _loaded(path: str) -> list[str]:
    env = _env(path)
    out = subprocess.run(
        [sys.executable, "-c", f"{STMT}; {WATCHED}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=path,
    )
    loaded: list[str] = json.loads(out.stdout)
    return loaded


def main(argv: Sequence[str] | None = None) -> None:
    """Print best and median import times of both trees and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="a commit (today's code)")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "tfso_events"],
            capture_output=True,
            check=True,
        ).stdout
        archive_path = Path(tmp) / "baseline.tar"
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(tmp, filter="data")
        trees = {"this tree": str(ROOT), f"baseline {args.baseline[:10]}": tmp}
        samples: dict[str, list[float]] = {name: [] for name in trees}
        for path in trees.values():
            _sample(path)  # untimed: writes the bytecode caches, as an installed package has
        for _ in range(args.runs):
            for name, path in trees.items():
                samples[name].append(_sample(path))
        print(f"`{STMT}`, python -X importtime, {args.runs} fresh interpreters per tree")
        print("| tree | best ms | median ms | loads |")
        print("|---|---:|---:|---|")
        for name, path in trees.items():
            taken = samples[name]
            loads = ", ".join(_loaded(path)) or "none of them"
            print(f"| {name} | {min(taken):.1f} | {statistics.median(taken):.1f} | {loads} |")
        ours, base = samples.values()
        print(
            f"\nthis tree / baseline: best {min(ours) / min(base):.2f}x, median "
            f"{statistics.median(ours) / statistics.median(base):.2f}x (goal <= 0.6x)"
        )


if __name__ == "__main__":
    main()
