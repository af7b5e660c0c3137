"""Cold start of an EventBridge publisher: what a Lambda's init phase can take off the
first request.

Each run is a fresh interpreter (a cold Lambda container) publishing to the local hub's
PutEvents on 127.0.0.1. It times:

* **init**: from the first line of the handler module (``import tfso_events``, building
  the client) to the end of module import, with and without ``await client.open()``
  there (the init phase, which Lambda runs before the first request and does not bill
  as request time);
* **first**: the first ``publish()`` (the first request);
* **second**: the next ``publish()`` (a warm request, for comparison).

Figures are medians of 7 runs per mode, in milliseconds. ``--baseline <commit>``
(repeatable) adds that commit's default client, lazy and opened at init, in the same
run: ``git archive <commit> tfso_events`` unpacked in a temporary directory and put
first on ``PYTHONPATH`` (as bench_import does). The children get AWS keys and a region
in the environment (a Lambda's); nothing else of the AWS configuration is added. Run:
``.venv/bin/python -m benchmarks.bench_cold_start [--baseline ab553e1]``
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

from tfso_events.local import LocalHub

CHILD = r"""
import time
t0 = time.perf_counter()
import asyncio, json, sys
from tfso_events import TfsoEventBridgeClient
from tfso_events.examples import sample_events

async def main():
    options = {} if sys.argv[3] == "default" else {"transport": sys.argv[3]}
    client = TfsoEventBridgeClient("dev", endpoint_url=sys.argv[1], **options)
    if sys.argv[2] == "open":
        await client.open()
    init = time.perf_counter() - t0
    event = sample_events()[1]
    t1 = time.perf_counter()
    await client.publish(event)
    first = time.perf_counter() - t1
    t2 = time.perf_counter()
    await client.publish(event)
    second = time.perf_counter() - t2
    await client.aclose()
    print(json.dumps({"init": init, "first": first, "second": second}))

asyncio.run(main())
"""


ROOT = Path(__file__).resolve().parent.parent

#: (handler module mode, transport, tree): a tree of ``None`` is this checkout.
Mode = tuple[str, str, str | None]


def measure(url: str, modes: list[Mode], runs: int = 7) -> list[dict[str, float]]:
    """Median init / first / second publish times (ms) of ``runs`` fresh interpreters
    for each (mode, transport, tree), the modes interleaved run by run."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # read bytecode caches, as an install does
    samples: list[list[dict[str, float]]] = [[] for _ in modes]
    for run in range(runs + 1):
        for at, (mode, transport, tree) in enumerate(modes):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, url, mode, transport],
                capture_output=True,
                text=True,
                check=True,
                env={**env, "PYTHONPATH": tree} if tree else env,
                cwd=tree or ROOT,
            ).stdout
            if run == 0:
                continue  # untimed: writes the bytecode caches of each tree
            sample = json.loads(out)
            sample["total"] = sample["init"] + sample["first"]
            samples[at].append(sample)
    return [
        {k: statistics.median(s[k] for s in taken) * 1e3 for k in taken[0]} for taken in samples
    ]


def _unpack(commit: str, into: str) -> str:
    """``commit``'s ``tfso_events`` unpacked under ``into``; returns the directory."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "tfso_events"],
        capture_output=True,
        check=True,
    ).stdout
    tree = Path(into) / commit
    tree.mkdir()
    archive_path = tree / "tree.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(tree, filter="data")
    return str(tree)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the table: both transports, lazy and opened at init, and the baselines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline", action="append", default=[], help="a commit to compare (repeatable)"
    )
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    modes: list[Mode] = [
        ("lazy", "lean", None),
        ("open", "lean", None),
        ("lazy", "botocore", None),
        ("open", "botocore", None),
    ]
    with tempfile.TemporaryDirectory() as tmp, LocalHub() as hub:
        for commit in args.baseline:
            tree = _unpack(commit, tmp)
            modes += [("lazy", "default", tree), ("open", "default", tree)]
        rows = measure(hub.url, modes, args.runs)
    print(
        f"## Cold start (bench_cold_start), EventBridge publisher, medians of {args.runs} "
        "fresh interpreters\n"
    )
    print(
        "| tree | transport | handler module | init ms | first publish ms | init + first ms "
        "| second ms |"
    )
    print("|---|---|---|---|---|---|---|")
    names = {"lazy": "client built, not opened", "open": "`await client.open()` at init"}
    trees = {tree: Path(tree).name if tree else "this tree" for _, _, tree in modes}
    for (mode, transport, tree), row in zip(modes, rows, strict=True):
        print(
            f"| {trees[tree]} | {transport} | {names[mode]} | {row['init']:.0f} | "
            f"{row['first']:.1f} | {row['total']:.0f} | {row['second']:.1f} |"
        )
    lean, botocore = rows[0], rows[2]
    print(
        f"\nfirst publish in a fresh process (import, open, one PutEvents), lean / botocore: "
        f"{lean['total'] / botocore['total']:.2f}x; open() at init moves "
        f"{lean['first'] - rows[1]['first']:.0f} ms (lean) and "
        f"{botocore['first'] - rows[3]['first']:.0f} ms (botocore) off the first request"
    )
    for at, commit in enumerate(args.baseline):
        base = rows[4 + 2 * at]
        print(
            f"this tree's default (lean) / {commit}'s default, first publish in a fresh "
            f"process: {lean['total'] / base['total']:.2f}x"
        )


if __name__ == "__main__":
    main()
