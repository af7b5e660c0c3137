"""One big publish_many through a local hub, with the process's peak RSS.

    .venv/bin/python scripts/big_run.py eventbridge 50000
    .venv/bin/python scripts/big_run.py api 50000

The hub runs in the same process (a background thread, its store in memory), so the
peak RSS counts the events, the client and the hub's store together. Figures in
docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time

from tfso_events import TfsoEventApiClient, TfsoEventBridgeClient
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub
from tfso_events.models.bank_test_created_v1 import (
    BankTestCreatedV1Content,
    BankTestCreatedV1Detail,
    BankTestCreatedV1Event,
    BankTestCreatedV1FavoriteColor,
)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _event(n: int) -> BankTestCreatedV1Event:
    from datetime import UTC, datetime

    return BankTestCreatedV1Event(
        detail=BankTestCreatedV1Detail(
            content=BankTestCreatedV1Content(
                first_name=f"big-{n}",
                last_name="Run",
                favorite_color=BankTestCreatedV1FavoriteColor.Blue,
                registration_date=datetime(2024, 2, 29, 12, tzinfo=UTC),
            ),
            metadata={"tenant": "t-1", "origin": "big-run", "trace": {"n": str(n)}},
        )
    )


async def _run(hub: LocalHub, via: str, count: int) -> None:
    events = [_event(n) for n in range(count)]
    built = _rss_mib()
    client: TfsoEventApiClient | TfsoEventBridgeClient
    if via == "eventbridge":
        client = TfsoEventBridgeClient("dev", endpoint_url=hub.url)
    else:
        client = TfsoEventApiClient(
            "local", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, api_url=hub.url, auth0_domain=hub.url
        )
    started = time.perf_counter()
    async with client:
        result = await client.publish_many(events, raise_on_error=False)
    elapsed = time.perf_counter() - started
    print(
        f"{via}: {count} events in {elapsed:.1f} s ({count / elapsed:.0f}/s); delivered "
        f"{len(result.succeeded)}, failed {len(result.failed)}, stored {hub.count()}; "
        f"peak RSS {_rss_mib():.0f} MiB ({built:.0f} MiB once the events were built)"
    )


def main() -> int:
    via = sys.argv[1] if len(sys.argv) > 1 else "eventbridge"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    # The local hub takes any AWS credentials; don't use (or send) the shell's.
    os.environ.update(
        AWS_ACCESS_KEY_ID="AKIALOCAL0000000000",
        AWS_SECRET_ACCESS_KEY="local-only-not-a-secret",
        AWS_DEFAULT_REGION="eu-west-1",
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    with LocalHub() as hub:
        asyncio.run(_run(hub, via, count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
