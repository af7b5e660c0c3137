"""The ``tfso-events`` command.

The registry (:func:`~tfso_events.cli._app.command`, :func:`~tfso_events.cli._app.arg`,
:func:`build_parser`, :func:`main` and the shared argument types) lives in ``_app.py``;
each command group is a module of its own, named for what it does, so a reader finds a
command by its file name:

- ``_catalog.py``: ``list``, ``schema``, ``validate``
- ``_publish.py``: ``publish``
- ``_hub.py``: ``hub``, ``tail``
- ``_match.py``: ``match``
- ``_outbox.py``: ``relay``, ``outbox`` (ddl, status, dead, redrive)
- ``_demo.py``: ``demo``
- ``_maintainers.py``: ``docs``, ``codegen``, ``compat`` (for a checkout of this project)

Adding a command group: create ``tfso_events/cli/_<group>.py``, declare each command in
it with ``@command(...)`` (see ``_app.py``; keep heavy imports inside the command so
``tfso-events --help`` stays instant), and add one import line to the list below. The
order of the list is the order of ``tfso-events --help``.
"""

from __future__ import annotations

from tfso_events.cli._app import COMMANDS, Command, arg, build_parser, command, main

# -- the command groups: importing one registers its commands; one line per group, in
# the order of `tfso-events --help` (hence no sorting here) -----------------------------
# isort: off
from tfso_events.cli import _catalog  # noqa: F401  (list, schema, validate)
from tfso_events.cli import _publish  # noqa: F401  (publish)
from tfso_events.cli import _hub  # noqa: F401  (hub, tail)
from tfso_events.cli import _match  # noqa: F401  (match)
from tfso_events.cli import _outbox  # noqa: F401  (relay, outbox)
from tfso_events.cli import _demo  # noqa: F401  (demo)
from tfso_events.cli import _maintainers  # noqa: F401  (docs, codegen, compat)
# isort: on
# -- end of the command groups ----------------------------------------------------------

__all__ = ["COMMANDS", "Command", "arg", "build_parser", "command", "main"]
