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
    client = TfsoEventBridgeClient("dev", endpoint_url=sys.argv[1])
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


def measure(url: str, mode: str, runs: int = 7) -> dict[str, float]:
    """Median init / first / second publish times (ms) of ``runs`` fresh interpreters."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, url, mode],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        samples.append(json.loads(out))
    return {k: statistics.median(s[k] for s in samples) * 1e3 for k in samples[0]}


def main() -> None:
    with LocalHub() as hub:
        lazy = measure(hub.url, "lazy")
        warm = measure(hub.url, "open")
    print(
        "## Cold start (bench_cold_start), EventBridge publisher, medians of 7 fresh interpreters\n"
    )
    print("| handler module | init ms | first publish ms | second publish ms |")
    print("|---|---|---|---|")
    for name, row in (("client built, not opened", lazy), ("`await client.open()` at init", warm)):
        print(f"| {name} | {row['init']:.0f} | {row['first']:.1f} | {row['second']:.1f} |")
    print(
        f"\nopen() at init moves {lazy['first'] - warm['first']:.0f} ms off the first request "
        f"(first publish {lazy['first'] / warm['first']:.1f}x faster; it is then "
        f"{warm['first'] / warm['second']:.1f}x a warm publish)"
    )


if __name__ == "__main__":
    main()
