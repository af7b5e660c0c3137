"""``tfso-events hub`` and ``tail``: run the local Event Hub, and follow what arrives
at one."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from tfso_events.cli._app import (
    DEFAULT_PORT,
    DEFAULT_URL,
    arg,
    command,
    per_second,
    port,
    positive_int,
    rate,
    seconds,
)

if TYPE_CHECKING:
    import aiohttp

    from tfso_events.local import LocalHub

__all__ = ["hub", "tail"]


async def _until_signalled() -> None:
    """Wait for SIGINT or SIGTERM (Ctrl-C), then return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


# -- hub -----------------------------------------------------------------------------------


@command(
    "hub",
    help="run the local Event Hub (Auth0 + events API + EventBridge) on 127.0.0.1",
    arguments=[
        arg("--port", type=port, default=DEFAULT_PORT, help="TCP port (default: %(default)s)"),
        arg("--db", metavar="PATH", help="keep events in this SQLite file (default: memory)"),
        arg(
            "--token-ttl",
            type=positive_int,
            default=86400,
            metavar="SECONDS",
            help="access token lifetime (default: %(default)s)",
        ),
        arg(
            "--throttle-rate",
            type=rate,
            default=0.0,
            metavar="RATE",
            help="fraction of PutEvents entries answered ThrottlingException "
            "(and of POST /events answered 429)",
        ),
        arg(
            "--error-rate",
            type=rate,
            default=0.0,
            metavar="RATE",
            help="fraction of POST /events and PutEvents calls answered 5xx",
        ),
        arg(
            "--token-error-rate",
            type=rate,
            default=0.0,
            metavar="RATE",
            help="fraction of POST /oauth/token answered 503",
        ),
        arg(
            "--quota",
            type=per_second,
            default=None,
            metavar="N/s",
            help="rate quota: PutEvents entries (and POST /events) beyond N per second "
            "are answered ThrottlingException (429), as the real service throttles",
        ),
        arg(
            "--latency",
            type=seconds,
            default=0.0,
            metavar="SECONDS",
            help="delay before answering each POST",
        ),
        arg("--seed", type=int, default=None, help="seed the fault draws"),
        arg(
            "--strict",
            action="store_true",
            help="refuse PutEvents entries whose detail-type is not in the catalog",
        ),
        arg(
            "--rules",
            metavar="FILE",
            help="load EventBridge rules and targets from this JSON file (PutRule/PutTargets "
            "shape); matching events are delivered to them",
        ),
        arg(
            "--sqs-endpoint-url",
            metavar="URL",
            help="where SQS queue targets live (a moto server; default: "
            "AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL)",
        ),
        arg("-v", "--verbose", action="store_true", help="log every refused request"),
    ],
)
def hub(args: argparse.Namespace) -> int:
    """Run the local Event Hub on 127.0.0.1 until Ctrl-C (or SIGTERM).

    It answers Auth0 client-credentials requests (POST /oauth/token), the events API
    (POST /events) and EventBridge PutEvents (POST /), stores what arrives in SQLite and
    lists it at GET /events. A client local-client / local-secret with every module's
    scope is ready. It prints how to point both publishers at it.
    """
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    return asyncio.run(_run_hub(args))


async def _run_hub(args: argparse.Namespace) -> int:
    from tfso_events.local import Faults, LocalHub

    faults = Faults(
        throttle_rate=args.throttle_rate,
        error_rate=args.error_rate,
        token_error_rate=args.token_error_rate,
        latency=args.latency,
        quota=args.quota,
    )
    try:
        local_hub = LocalHub(
            port=args.port,
            token_ttl=args.token_ttl,
            seed=args.seed,
            db_path=args.db,
            strict=args.strict,
            faults=faults,
            rules=args.rules,
            sqs_endpoint_url=args.sqs_endpoint_url,
        )
    except ValueError as exc:
        print(f"tfso-events hub: {exc}", file=sys.stderr)
        return 2
    try:
        await local_hub.start()
    except OSError as exc:
        print(
            f"tfso-events hub: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}"
            " (is another hub running? try --port)",
            file=sys.stderr,
        )
        return 1
    try:
        print(_banner(local_hub, args), flush=True)
        await _until_signalled()
    finally:
        await local_hub.stop()
    print("tfso-events hub: stopped", flush=True)
    return 0


def _banner(local_hub: LocalHub, args: argparse.Namespace) -> str:
    from tfso_events.constants import TfsoModules
    from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    url = local_hub.url
    faults = local_hub.faults
    active = [
        f"{name}={value}"
        for name, value in (
            ("throttle_rate", faults.throttle_rate),
            ("error_rate", faults.error_rate),
            ("token_error_rate", faults.token_error_rate),
            ("latency", faults.latency),
            ("quota", f"{faults.quota:g}/s" if faults.quota else None),
        )
        if value
    ]
    default_port = local_hub.port == DEFAULT_PORT
    scopes = " ".join(m.value for m in TfsoModules)
    python_urls = "" if default_port else f', api_url="{url}", auth0_domain="{url}"'
    bridge_url = "" if default_port else f', endpoint_url="{url}"'
    return "\n".join(
        [
            f"tfso-events local hub listening on {url}",
            f"  Auth0 domain, events API and EventBridge endpoint: {url}",
            f"  client:   {DEFAULT_CLIENT_ID} / {DEFAULT_CLIENT_SECRET} (scopes: {scopes})",
            f"  audience: {local_hub.audience}",
            f"  store:    {args.db or 'in memory'}",
            f"  faults:   {', '.join(active) or 'none'}",
            f"  rules:    {_rules_line(local_hub)}",
            "",
            "Events API publisher (TfsoEventApiClient):",
            "  export TFSO_EVENTS_ENVIRONMENT=local",
            f"  export TFSO_EVENTS_AUTH0_DOMAIN={url}",
            f"  export TFSO_EVENTS_API_URL={url}",
            f"  export TFSO_EVENTS_CLIENT_ID={DEFAULT_CLIENT_ID}",
            f"  export TFSO_EVENTS_CLIENT_SECRET={DEFAULT_CLIENT_SECRET}",
            f'  # Python: TfsoEventApiClient("local", "{DEFAULT_CLIENT_ID}", '
            f'"{DEFAULT_CLIENT_SECRET}"{python_urls})',
            "",
            "EventBridge publisher (TfsoEventBridgeClient; any credentials are accepted):",
            f"  export AWS_ENDPOINT_URL_EVENTBRIDGE={url}",
            "  export AWS_ACCESS_KEY_ID=local",
            "  export AWS_SECRET_ACCESS_KEY=local",
            "  export AWS_DEFAULT_REGION=eu-west-1",
            f'  # Python: TfsoEventBridgeClient("local"{bridge_url})  # dummy credentials',
            "",
            f"Follow what arrives: tfso-events tail --url {url}   (or GET {url}/events)",
            f"Follow deliveries to rule targets: tfso-events tail --deliveries --url {url}"
            f"   (or GET {url}/deliveries)",
            "Ctrl-C stops the hub.",
        ]
    )


def _rules_line(local_hub: LocalHub) -> str:
    rules = local_hub.rules()
    if not rules:
        return "none (add them with PutRule/PutTargets, or --rules FILE)"
    targets = sum(len(rule.targets) for rule in rules)
    names = ", ".join(rule.name for rule in rules[:5]) + (", ..." if len(rules) > 5 else "")
    return f"{len(rules)} ({names}), {targets} target{'s' if targets != 1 else ''}"


# -- tail ----------------------------------------------------------------------------------


@command(
    "tail",
    help="follow the events arriving at a running local hub",
    arguments=[
        arg("--url", default=DEFAULT_URL, help="the hub's URL (default: %(default)s)"),
        arg("--detail-type", help="only this detail-type"),
        arg("--via", choices=["api", "eventbridge"], help="only events that came this way"),
        arg(
            "--last",
            type=int,
            default=10,
            metavar="N",
            help="first print the last N events already stored (default: %(default)s)",
        ),
        arg(
            "--interval",
            type=float,
            default=0.5,
            metavar="SECONDS",
            help="how often to poll (default: %(default)s)",
        ),
        arg("--json", action="store_true", help="print each record as one JSON line"),
        arg("--once", action="store_true", help="print what is stored and exit"),
        arg(
            "--deliveries",
            action="store_true",
            help="follow deliveries to rule targets (and dead-letter records) instead of events",
        ),
        arg(
            "--failed",
            action="store_true",
            help="with --deliveries: only dead-letter records (attempts exhausted)",
        ),
    ],
)
def tail(args: argparse.Namespace) -> int:
    """Print the events arriving at a running local hub, one per line, until Ctrl-C.

    Polls GET {url}/events with an after_id cursor. Each line shows the arrival time, the
    way in (api or eventbridge), the detail-type, the source, the event id and the detail.
    """
    return asyncio.run(_run_tail(args))


async def _run_tail(args: argparse.Namespace) -> int:
    if args.once:
        return await _follow(args)
    follow = asyncio.ensure_future(_follow(args))
    signalled = asyncio.ensure_future(_until_signalled())
    done, _ = await asyncio.wait({follow, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if follow in done:
        signalled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await signalled
        return follow.result()
    follow.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follow
    return 0


async def _follow(args: argparse.Namespace) -> int:
    if args.deliveries:
        return await _follow_deliveries(args)
    return await _follow_events(args)


async def _get_records(
    session: aiohttp.ClientSession, url: str, params: dict[str, str]
) -> list[dict[str, Any]] | None:
    """The records ``tail`` reads from ``url``, or None (said on stderr) when the hub
    answers other than 200; a hub that cannot be reached is the caller's to handle."""
    async with session.get(url, params=params) as response:
        if response.status != 200:
            print(f"tfso-events tail: {url} answered HTTP {response.status}", file=sys.stderr)
            return None
        records: list[dict[str, Any]] = await response.json()
    return records


async def _follow_deliveries(args: argparse.Namespace) -> int:
    import aiohttp

    base = args.url.rstrip("/")
    after_id = 0
    first = True
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            params = {"after_id": str(after_id)}
            if args.failed:
                params["status"] = "failed"
            try:
                records = await _get_records(session, f"{base}/deliveries", params)
            except (aiohttp.ClientError, TimeoutError) as exc:
                print(f"tfso-events tail: cannot reach {base}: {exc}", file=sys.stderr)
                if args.once:
                    return 1
                await asyncio.sleep(args.interval)
                continue
            if records is None:
                return 1
            if first:
                first = False
                if records:
                    after_id = records[-1]["id"]
                records = records[-args.last :] if args.last > 0 else []
            for record in records:
                print(_format_delivery(record, as_json=args.json), flush=True)
                after_id = max(after_id, record["id"])
            if args.once:
                return 0
            await asyncio.sleep(args.interval)


def _format_delivery(record: dict[str, Any], *, as_json: bool) -> str:
    import json

    if as_json:
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    tail = (
        record["error"]
        if record["status"] == "failed"
        else json.dumps(record["payload"], separators=(",", ":"), ensure_ascii=False)
    )
    if len(tail) > 200:
        tail = tail[:199] + "…"
    return (
        f"{record['at']} {record['status']:<9} rule={record['rule']} "
        f"target={record['targetId']} event={record['eventId']} "
        f"attempts={record['attempts']} {tail}"
    )


async def _follow_events(args: argparse.Namespace) -> int:
    import aiohttp

    base = args.url.rstrip("/")
    filters = {
        key: value
        for key, value in (("detail_type", args.detail_type), ("via", args.via))
        if value is not None
    }
    warned = False
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        after_id: int | None = None
        while True:
            if after_id is None:
                # First look: the last N stored, newest first, printed oldest first.
                params = {**filters, "order": "desc", "limit": str(max(args.last, 1))}
            else:
                params = {**filters, "after_id": str(after_id)}
            try:
                records = await _get_records(session, f"{base}/events", params)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if args.once:
                    print(f"tfso-events tail: cannot reach {base}: {exc}", file=sys.stderr)
                    return 1
                if not warned:
                    print(f"tfso-events tail: waiting for a hub at {base} ({exc})", file=sys.stderr)
                    warned = True
                await asyncio.sleep(args.interval)
                continue
            if records is None:
                return 1
            if after_id is None:
                newest = records[0]["id"] if records else 0
                records = list(reversed(records))[-args.last :] if args.last > 0 else []
                after_id = newest
                if not args.once:
                    print(f"tfso-events tail: following {base} (Ctrl-C stops)", file=sys.stderr)
            for record in records:
                print(_format_record(record, as_json=args.json), flush=True)
                after_id = max(after_id, record["id"])
            if warned:
                print(f"tfso-events tail: connected to {base}", file=sys.stderr)
                warned = False
            if args.once:
                return 0
            await asyncio.sleep(args.interval)


def _format_record(record: dict[str, Any], *, as_json: bool) -> str:
    import json

    if as_json:
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    bus = f" bus={record['eventBusName']}" if record.get("eventBusName") else ""
    client = f" client={record['clientId']}" if record.get("clientId") else ""
    detail = json.dumps(record["detail"], separators=(",", ":"), ensure_ascii=False)
    return (
        f"{record['receivedAt']} {record['via']:<11} {record['detailType']} "
        f"{record['source']} {record['eventId']}{bus}{client} {detail}"
    )
