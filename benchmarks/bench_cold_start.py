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

Figures are medians of 7 runs per mode, in milliseconds. Run:
``.venv/bin/python -m benchmarks.bench_cold_start``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from tfso_events.local import LocalHub

CHILD = r"""
import time
t0 = time.perf_counter()
import asyncio, json, sys
from tfso_events import TfsoEventBridgeClient
from tfso_events.examples import sample_events

async def main():
    client = TfsoEventBridgeClient("dev", endpoint_url=sys.argv[1], transport=sys.argv[3])
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


def measure(url: str, modes: list[tuple[str, str]], runs: int = 7) -> list[dict[str, float]]:
    """Median init / first / second publish times (ms) of ``runs`` fresh interpreters
    for each (mode, transport), the modes interleaved run by run."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    samples: list[list[dict[str, float]]] = [[] for _ in modes]
    for _ in range(runs):
        for at, (mode, transport) in enumerate(modes):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, url, mode, transport],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
            sample = json.loads(out)
            sample["total"] = sample["init"] + sample["first"]
            samples[at].append(sample)
    return [
        {k: statistics.median(s[k] for s in taken) * 1e3 for k in taken[0]} for taken in samples
    ]


def main() -> None:
    """Print the table: both transports, lazy and opened at init."""
    modes = [
        ("lazy", "lean"),
        ("open", "lean"),
        ("lazy", "botocore"),
        ("open", "botocore"),
    ]
    with LocalHub() as hub:
        rows = measure(hub.url, modes)
    print(
        "## Cold start (bench_cold_start), EventBridge publisher, medians of 7 fresh interpreters\n"
    )
    print(
        "| transport | handler module | init ms | first publish ms | init + first ms | second ms |"
    )
    print("|---|---|---|---|---|---|")
    names = {"lazy": "client built, not opened", "open": "`await client.open()` at init"}
    for (mode, transport), row in zip(modes, rows, strict=True):
        print(
            f"| {transport} | {names[mode]} | {row['init']:.0f} | {row['first']:.1f} | "
            f"{row['total']:.0f} | {row['second']:.1f} |"
        )
    lean, botocore = rows[0], rows[2]
    print(
        f"\nfirst publish in a fresh process (import, open, one PutEvents), lean / botocore: "
        f"{lean['total'] / botocore['total']:.2f}x (goal <= 0.4x); open() at init moves "
        f"{lean['first'] - rows[1]['first']:.0f} ms (lean) and "
        f"{botocore['first'] - rows[3]['first']:.0f} ms (botocore) off the first request"
    )


if __name__ == "__main__":
    main()
