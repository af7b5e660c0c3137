"""The ``tfso-events`` command registry: :func:`command`, :func:`arg`, :func:`build_parser`,
:func:`main`, and the argument types the command groups share.

Each subcommand is one function, registered with :func:`command` together with its
arguments; :func:`main` builds one argparse subparser per registered command::

    @command("hub", help="run the local Event Hub", arguments=[
        arg("--port", type=port, default=8642, help="TCP port on 127.0.0.1"),
    ])
    def hub(args: argparse.Namespace) -> int:
        ...
        return 0

A command returns the process exit code. Heavy imports (aiohttp, the hub) happen inside
the command that needs them, so ``tfso-events --help`` stays instant. The command groups
live in the sibling modules (``_catalog``, ``_publish``, ``_hub``, ...); importing one
registers its commands (``tfso_events/cli/__init__.py`` lists them).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMMANDS",
    "DEFAULT_PORT",
    "DEFAULT_URL",
    "TARGET_ARGUMENTS",
    "Arg",
    "Command",
    "Run",
    "arg",
    "build_parser",
    "command",
    "main",
    "per_second",
    "port",
    "positive_int",
    "rate",
    "seconds",
]

#: One ``add_argument`` call: the flags and the keyword arguments.
Arg = tuple[tuple[str, ...], dict[str, Any]]
Run = Callable[[argparse.Namespace], int]


def arg(*flags: str, **kwargs: Any) -> Arg:
    """Declare an argument of a command, exactly as ``parser.add_argument`` takes it."""
    return flags, kwargs


#: Where ``publish`` and ``relay`` send (both build their publisher with
#: ``_publish._client``): ``--via``, ``--env``, ``--bus``, ``--endpoint-url``,
#: ``--auth0-domain``, ``--region``, ``--client-id``, ``--client-secret``.
TARGET_ARGUMENTS: tuple[Arg, ...] = (
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
    arg("--client-id", metavar="ID", help="Auth0 application id (default TFSO_EVENTS_CLIENT_ID)"),
    arg(
        "--client-secret",
        metavar="SECRET",
        help="Auth0 application secret (default TFSO_EVENTS_CLIENT_SECRET, which is safer: "
        "command lines are visible to other users)",
    ),
)


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
    from tfso_events._version import __version__

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
    except BrokenPipeError:
        # `tfso-events list | head`: the reader has gone, which is no error of ours. Point
        # stdout at /dev/null so the interpreter's final flush cannot raise again, and
        # exit as a program killed by SIGPIPE would (128 + 13), as `yes | head` does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# -- argument types ------------------------------------------------------------------------


def rate(text: str) -> float:
    """An argparse type: a fraction between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def per_second(text: str) -> float:
    """An argparse type: a positive rate such as ``2000/s`` (or ``2000``), per second."""
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


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, from 0 to under an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.0 <= value < 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 3600 seconds")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def port(text: str) -> int:
    """An argparse type: a TCP port number (0 picks a free one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0-65535)")
    return value


#: tfso_events.local.DEFAULT_PORT, without importing aiohttp for ``--help``.
DEFAULT_PORT = 8642
#: The local hub's URL on its default port.
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
