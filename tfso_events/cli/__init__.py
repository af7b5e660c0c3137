"""The ``tfso-events`` command.

Each subcommand is one function, registered with :func:`command` together with its
arguments; :func:`main` builds one argparse subparser per registered command::

    @command("hub", help="run the local Event Hub", arguments=[
        arg("--port", type=int, default=8642, help="TCP port on 127.0.0.1"),
    ])
    def hub(args: argparse.Namespace) -> int:
        ...
        return 0

A command returns the process exit code. Heavy imports (aiohttp, the hub) happen inside
the command that needs them, so ``tfso-events --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfso_events.local import LocalHub

__all__ = ["COMMANDS", "Command", "arg", "build_parser", "command", "main"]

#: One ``add_argument`` call: the flags and the keyword arguments.
Arg = tuple[tuple[str, ...], dict[str, Any]]
Run = Callable[[argparse.Namespace], int]


def arg(*flags: str, **kwargs: Any) -> Arg:
    """Declare an argument of a command, exactly as ``parser.add_argument`` takes it."""
    return flags, kwargs


@dataclass(frozen=True, slots=True)
class Command:
    """A registered subcommand: its name, one-line ``help``, arguments and function."""

    name: str
    help: str
    run: Run
    arguments: tuple[Arg, ...] = ()
    description: str | None = None


#: Every subcommand, by name, in registration order.
COMMANDS: dict[str, Command] = {}


def command(name: str, *, help: str, arguments: Sequence[Arg] = ()) -> Callable[[Run], Run]:
    """Register the decorated function as the subcommand ``name``.

    The function's docstring becomes the subcommand's ``--help`` description.
    """

    def register(run: Run) -> Run:
        if name in COMMANDS:
            raise ValueError(f"command {name!r} is already registered")
        description = inspect.cleandoc(run.__doc__) if run.__doc__ else None
        COMMANDS[name] = Command(name, help, run, tuple(arguments), description)
        return run

    return register


def build_parser() -> argparse.ArgumentParser:
    """The ``tfso-events`` parser with one subparser per registered command."""
    from tfso_events import __version__

    parser = argparse.ArgumentParser(
        prog="tfso-events",
        description="Typed events, publishers and a local Event Hub for the TFSO Event Hub.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for cmd in COMMANDS.values():
        sub = subparsers.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.description or cmd.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for flags, kwargs in cmd.arguments:
            sub.add_argument(*flags, **kwargs)
        sub.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tfso-events`` with ``argv`` (default: the process arguments); return the
    exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Run | None = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    # SIGTERM (a container orchestrator's stop) is Ctrl-C: the commands that install
    # their own handling treat both alike, and before they do it interrupts cleanly.
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread (an embedding program)
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(args)
    except KeyboardInterrupt:  # Ctrl-C before a command installed its own handling
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# -- argument types ------------------------------------------------------------------------


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _per_second(text: str) -> float:
    number = text.strip().removesuffix("/s").strip()
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rate such as 2000/s (entries per second)"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive rate per second")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.0 <= value < 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 3600 seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0-65535)")
    return value


_DEFAULT_PORT = 8642  # tfso_events.local.DEFAULT_PORT, without importing aiohttp for --help
_DEFAULT_URL = f"http://127.0.0.1:{_DEFAULT_PORT}"


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


# -- list ----------------------------------------------------------------------------------


@command(
    "list",
    help="list the event catalog: detail-type, source, module and class",
    arguments=[arg("--json", action="store_true", help="print a JSON array instead of a table")],
)
def list_(args: argparse.Namespace) -> int:
    """List every event this version knows: its detail-type, source, module (also its
    Auth0 scope and the middle of its bus name tfso-{module}-events) and the Python class
    to import. A rich table on a terminal when rich is installed, plain text otherwise.
    """
    from tfso_events.catalog import events

    rows = [
        {
            "detailType": cls.detail_type,
            "source": cls.source,
            "module": cls.module,
            "class": f"{cls.__module__}.{cls.__name__}",
        }
        for cls in events()
    ]
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    from tfso_events.cli._console import print_table

    print_table(
        ["detail-type", "source", "module", "class"],
        [list(row.values()) for row in rows],
        keep=[0, 3],  # the detail-type and the class: the values a user copies
    )
    return 0


# -- schema --------------------------------------------------------------------------------


@command(
    "schema",
    help="print the JSON Schema of an event's detail",
    arguments=[arg("detail_type", metavar="DETAIL_TYPE", help="e.g. bank.test:created@v1")],
)
def schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema (draft 2020-12) of the detail of DETAIL_TYPE: content,
    timestamp and metadata, with every field's type, requiredness and description.

    An unknown detail-type exits 2 and lists the known ones.
    """
    import json

    from tfso_events.catalog import event_class, event_schema, events
    from tfso_events.errors import UnknownEventTypeError

    try:
        cls = event_class(args.detail_type)
    except UnknownEventTypeError:
        known = "\n".join(f"  {cls.detail_type}" for cls in events())
        print(
            f"tfso-events schema: unknown detail-type {args.detail_type!r}; known:\n{known}",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(event_schema(cls), indent=2, ensure_ascii=False))
    return 0


# -- validate ------------------------------------------------------------------------------


@command(
    "validate",
    help="check JSON or NDJSON files of events against the catalog",
    arguments=[
        arg("files", nargs="+", metavar="FILE", help="JSON or NDJSON files (- for stdin)"),
        arg("-q", "--quiet", action="store_true", help="print only the summary line"),
    ],
)
def validate(args: argparse.Namespace) -> int:
    """Check every record of each FILE against the catalog, as a publisher would.

    A file is one JSON object, a JSON array of objects, or NDJSON (one object per line).
    A record is an EventBridge envelope (it has "detail-type") or an events API body
    ({"source", "detailType", "detail"}); other keys are ignored. Each bad record is
    printed as FILE:LINE: DETAIL-TYPE JSON-PATH: REASON; a line that is not JSON is
    reported by its line and the following lines are still checked.

    Exit status: 0 when every record is valid, 1 when any is not, 2 when a file cannot
    be read.
    """
    from tfso_events.cli._records import RecordFile, to_event
    from tfso_events.errors import EventValidationError

    valid = invalid = 0
    unreadable = False
    for path in args.files:
        try:
            records = RecordFile(path)
        except OSError as exc:
            print(
                f"tfso-events validate: cannot read {path}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            unreadable = True
            continue
        for record in records:
            problem = record.error
            if record.raw is not None:
                try:
                    to_event(record.raw)
                except EventValidationError as exc:
                    problem = _problem(exc)
            if problem is None:
                valid += 1
                continue
            invalid += 1
            if not args.quiet:
                print(f"{record.where}: {problem}")
    from tfso_events.cli._console import counted

    files = counted(len(args.files), "file")
    total = counted(valid + invalid, "record")
    print(f"validate: {total} in {files}: {valid} valid, {invalid} invalid")
    if unreadable:
        return 2
    return 1 if invalid else 0


def _problem(exc: Exception) -> str:
    """One line for a bad record: ``detail-type $.path: reason`` (what is known of it)."""
    from tfso_events.errors import EventValidationError

    if not isinstance(exc, EventValidationError):
        return str(exc)
    what = f"{exc.detail_type} " if exc.detail_type else ""
    return f"{what}{exc.path}: {exc.reason}"


# -- publish -------------------------------------------------------------------------------


@command(
    "publish",
    help="bulk publish an NDJSON file of events through EventBridge or the events API",
    arguments=[
        arg(
            "file", metavar="FILE", help="NDJSON (or JSON) of envelopes or API bodies; - for stdin"
        ),
        arg("--via", required=True, choices=["eventbridge", "api"], help="which publisher"),
        arg(
            "--env",
            metavar="ENV",
            help="dev, pre-prod, prod or local (the local hub); default TFSO_EVENTS_ENVIRONMENT",
        ),
        arg(
            "--bus",
            metavar="NAME",
            help="EventBridge bus name or ARN (default tfso-{module}-events)",
        ),
        arg(
            "--endpoint-url",
            metavar="URL",
            help="EventBridge endpoint, or the events API base URL with --via api "
            "(default: the environment's; with --env local, http://127.0.0.1:8642)",
        ),
        arg(
            "--auth0-domain",
            metavar="URL",
            help="Auth0 domain for --via api (with --env local: the --endpoint-url)",
        ),
        arg("--region", help="AWS region for --via eventbridge (default: AWS configuration)"),
        arg(
            "--client-id", metavar="ID", help="Auth0 application id (default TFSO_EVENTS_CLIENT_ID)"
        ),
        arg(
            "--client-secret",
            metavar="SECRET",
            help="Auth0 application secret (default TFSO_EVENTS_CLIENT_SECRET, which is safer: "
            "command lines are visible to other users)",
        ),
        arg("--concurrency", type=_positive_int, metavar="N", help="requests in flight at once"),
        arg(
            "--max-attempts",
            type=_positive_int,
            default=None,
            metavar="N",
            help="tries per event, the first included (default: no count; retries end "
            "at the retry deadline)",
        ),
        arg(
            "--retry-deadline",
            type=_seconds,
            default=60.0,
            metavar="SECONDS",
            help="give up on events still failing after this long without progress "
            "(default: %(default)s)",
        ),
        arg(
            "--batch-size",
            type=_positive_int,
            default=1000,
            metavar="N",
            help="records read and published per publish_many call (default: %(default)s)",
        ),
        arg(
            "--failed-out",
            metavar="FILE",
            help="write every failed or invalid record here (NDJSON, with a reason), "
            "ready to publish again",
        ),
        arg(
            "--unconfirmed-out",
            metavar="FILE",
            help="write the records in flight without an answer when publish was stopped "
            "here (they may have arrived); default: into --failed-out, marked unconfirmed",
        ),
        arg(
            "--state",
            metavar="FILE",
            help="record the number of every record confirmed sent in FILE (written at the "
            "end of each batch and when the run stops), so an interrupted run can be resumed",
        ),
        arg(
            "--resume",
            action="store_true",
            help="skip the records --state FILE lists as sent by an earlier run over the "
            "same input, and go on recording into it",
        ),
        arg(
            "--stop-grace",
            type=_seconds,
            default=10.0,
            metavar="SECONDS",
            help="on Ctrl-C or SIGTERM, wait this long for the answers to what is in "
            "flight before giving up on them (default: %(default)s)",
        ),
    ],
)
def publish(args: argparse.Namespace) -> int:
    """Publish every record of FILE, reading it in batches (memory stays flat however
    big the file is) and sending each batch with the publisher's publish_many.

    Records are validated first: an invalid one is reported with its line and JSON path
    and never sent. Delivery failures (after retries) are reported with their reason.
    --failed-out writes each failed or invalid record as read, plus a "reason" key that
    publish and validate ignore, so it can be fixed if needed and published again.
    The first record goes alone: a target that cannot be reached, or that refuses the
    credentials, stops the run at once with one message.

    Each record is confirmed as its answer arrives. Ctrl-C (or SIGTERM) stops reading,
    waits up to --stop-grace seconds for the answers in flight (Ctrl-C again: stop
    waiting), and reports sent, failed, invalid and unconfirmed records separately;
    with --state FILE, run the same command with --resume to send the rest and nothing
    twice.

    Exit status: 0 when every record was sent, 1 when any failed or was invalid,
    2 for a usage or configuration error, 130 when interrupted.
    """
    from tfso_events.cli._publish import run_publish

    return run_publish(args)


# -- hub -----------------------------------------------------------------------------------


@command(
    "hub",
    help="run the local Event Hub (Auth0 + events API + EventBridge) on 127.0.0.1",
    arguments=[
        arg("--port", type=_port, default=_DEFAULT_PORT, help="TCP port (default: %(default)s)"),
        arg("--db", metavar="PATH", help="keep events in this SQLite file (default: memory)"),
        arg(
            "--token-ttl",
            type=_positive_int,
            default=86400,
            metavar="SECONDS",
            help="access token lifetime (default: %(default)s)",
        ),
        arg(
            "--throttle-rate",
            type=_rate,
            default=0.0,
            metavar="RATE",
            help="fraction of PutEvents entries answered ThrottlingException "
            "(and of POST /events answered 429)",
        ),
        arg(
            "--error-rate",
            type=_rate,
            default=0.0,
            metavar="RATE",
            help="fraction of POST /events and PutEvents calls answered 5xx",
        ),
        arg(
            "--token-error-rate",
            type=_rate,
            default=0.0,
            metavar="RATE",
            help="fraction of POST /oauth/token answered 503",
        ),
        arg(
            "--quota",
            type=_per_second,
            default=None,
            metavar="N/s",
            help="rate quota: PutEvents entries (and POST /events) beyond N per second "
            "are answered ThrottlingException (429), as the real service throttles",
        ),
        arg(
            "--latency",
            type=_seconds,
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
    local_hub = LocalHub(
        port=args.port,
        token_ttl=args.token_ttl,
        seed=args.seed,
        db_path=args.db,
        strict=args.strict,
        faults=faults,
    )
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
    default_port = local_hub.port == _DEFAULT_PORT
    scopes = " ".join(m.value for m in TfsoModules)
    python_urls = "" if default_port else f', api_url="{url}", auth0_domain="{url}"'
    return "\n".join(
        [
            f"tfso-events local hub listening on {url}",
            f"  Auth0 domain, events API and EventBridge endpoint: {url}",
            f"  client:   {DEFAULT_CLIENT_ID} / {DEFAULT_CLIENT_SECRET} (scopes: {scopes})",
            f"  audience: {local_hub.audience}",
            f"  store:    {args.db or 'in memory'}",
            f"  faults:   {', '.join(active) or 'none'}",
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
            f'  # Python: TfsoEventBridgeClient("dev", endpoint_url="{url}")',
            "",
            f"Follow what arrives: tfso-events tail --url {url}   (or GET {url}/events)",
            "Ctrl-C stops the hub.",
        ]
    )


# -- tail ----------------------------------------------------------------------------------


@command(
    "tail",
    help="follow the events arriving at a running local hub",
    arguments=[
        arg("--url", default=_DEFAULT_URL, help="the hub's URL (default: %(default)s)"),
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
                async with session.get(f"{base}/events", params=params) as response:
                    if response.status != 200:
                        print(
                            f"tfso-events tail: {base}/events answered HTTP {response.status}",
                            file=sys.stderr,
                        )
                        return 1
                    records: list[dict[str, Any]] = await response.json()
            except (aiohttp.ClientError, TimeoutError) as exc:
                if args.once:
                    print(f"tfso-events tail: cannot reach {base}: {exc}", file=sys.stderr)
                    return 1
                if not warned:
                    print(f"tfso-events tail: waiting for a hub at {base} ({exc})", file=sys.stderr)
                    warned = True
                await asyncio.sleep(args.interval)
                continue
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


# -- demo ----------------------------------------------------------------------------------


@command(
    "demo",
    help="publish the sample events to an embedded local hub through every publisher",
)
def demo(args: argparse.Namespace) -> int:
    """Start a local hub in this process and publish the seed's sample events through
    TfsoEventApiClient (Auth0 token + POST /events), TfsoEventBridgeClient (PutEvents)
    and the blocking facade of both (tfso_events.sync); then show what the hub received,
    parsed back into typed events.

    Needs no credentials and no network beyond 127.0.0.1, and ignores AWS_* and
    TFSO_EVENTS_* variables. Exit status 0 only when every event arrived.
    """
    from tfso_events.cli._demo import run_demo

    return run_demo()


# -- docs ----------------------------------------------------------------------------------


@command(
    "docs",
    help="regenerate the event pages (docs/events/) from the models",
    arguments=[
        arg(
            "--out",
            metavar="DIR",
            default="docs/events",
            help="where to write them (default: %(default)s)",
        )
    ],
)
def docs(args: argparse.Namespace) -> int:
    """Write one Markdown page per event (fields, types, requiredness, enumerated values
    and a sample) and an index, in the seed documentation's form."""
    from pathlib import Path

    from tfso_events.cli._docgen import write_event_docs

    written = write_event_docs(Path(args.out))
    for path in written:
        print(path)
    print(f"docs: {len(written)} pages written to {args.out}")
    return 0


# -- codegen and compat (development tools; the logic lives in tfso_events._codegen) -------


@command(
    "codegen",
    help="generate the models, constants, examples, vectors and event pages from the schemas",
    arguments=[
        arg("--check", action="store_true", help="change nothing; exit 1 if anything is stale"),
        arg("--root", metavar="DIR", default=".", help="the project root (default: %(default)s)"),
    ],
)
def codegen(args: argparse.Namespace) -> int:
    """Generate, from tfso_events/schemas/*.json, the model modules, constants.py, the
    catalog registration, examples.py, tests/vectors/*.json and docs/events/*.md.

    With --check nothing is written: exit 1 and name every file that differs from what
    the schemas give (a hand edit, or a schema edited without regenerating).
    """
    from pathlib import Path

    from tfso_events._codegen import CodegenError, run

    try:
        outcome = run(Path(args.root), check=args.check)
    except CodegenError as exc:
        print(f"tfso-events codegen: {exc}", file=sys.stderr)
        return 2
    changed = [*outcome.stale, *outcome.obsolete]
    if args.check:
        for rel in outcome.stale:
            print(f"stale: {rel}", file=sys.stderr)
        for rel in outcome.obsolete:
            print(f"obsolete (no schema generates it): {rel}", file=sys.stderr)
        if changed:
            print(
                f"codegen --check: {len(changed)} file(s) differ from the schemas; "
                "run `make generate` (tfso-events codegen)",
                file=sys.stderr,
            )
            return 1
        print("codegen --check: every generated file is current")
        return 0
    for rel in outcome.stale:
        print(f"wrote {rel}")
    for rel in outcome.obsolete:
        print(f"removed {rel}")
    print(f"codegen: {len(changed)} file(s) changed")
    return 0


@command(
    "compat",
    help="classify the change between two versions of an event schema",
    arguments=[
        arg("old", metavar="OLD.json", help="the published version"),
        arg("new", metavar="NEW.json", help="the edited version"),
    ],
)
def compat(args: argparse.Namespace) -> int:
    """Compare two versions of one event's schema and list every change as compatible
    (an optional field added, a description changed) or breaking (a field removed or
    renamed, optional → required, a type changed, an enum value removed or added).

    Exits 0 when every change is compatible, 1 when one breaks (it then needs a new
    @vN detail-type), 2 when a file cannot be read.
    """
    import json

    from tfso_events._codegen.compat import compare, next_version

    docs = []
    for name in (args.old, args.new):
        try:
            with open(name, encoding="utf-8") as handle:
                docs.append(json.load(handle))
        except (OSError, ValueError) as exc:
            print(f"tfso-events compat: cannot read {name}: {exc}", file=sys.stderr)
            return 2
    old, new = docs
    changes = compare(old, new)
    for change in changes:
        print(change)
    breaking = [change for change in changes if change.breaking]
    detail_type = str(old.get("x-detail-type") or old.get("title") or "the detail-type")
    if breaking:
        print(
            f"breaking: {len(breaking)} change(s) break consumers of {detail_type}; publish "
            f"them as a new detail-type, {next_version(detail_type)}, and keep "
            f"{detail_type} as it is"
        )
        return 1
    print(f"compatible: consumers of {detail_type} read the new version ({len(changes)} change(s))")
    return 0
