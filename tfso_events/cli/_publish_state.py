"""The ``--state`` file of ``tfso-events publish``: which records of an input file were
confirmed sent, so ``--resume`` sends the rest and nothing twice.

The file is text: a JSON header naming the input (its absolute path and size), then the
number of each record the events API or EventBridge confirmed (1-based, in the order
the answers came), one per line, appended and flushed as the answers arrive. A line cut
short by a crash is ignored. Records are counted, not located by line, so a JSON array
with several records on one line resumes as exactly as NDJSON does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO

import msgspec

__all__ = ["StateError", "StateFile"]

_KIND = "tfso-events publish state"


class StateError(Exception):
    """The state file cannot be used for this input (a usage error, exit 2)."""


class _Header(msgspec.Struct, forbid_unknown_fields=False):
    kind: str
    file: str
    size: int


class StateFile:
    """Open ``path`` for the input ``source`` (a regular file of ``size`` bytes).

    Without ``resume``, ``path`` must not already hold progress (that would be lost, or
    a forgotten ``--resume``); with it, the records it lists are :attr:`done` and new
    confirmations are appended.
    """

    def __init__(self, path: str, source: str, size: int, *, resume: bool) -> None:
        self.path = path
        self.done: frozenset[int] = frozenset()
        source = os.path.realpath(source)
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        if resume and not exists:
            raise StateError(f"--resume: {path} does not exist or is empty (no earlier run)")
        if exists and not resume:
            raise StateError(
                f"{path} holds an earlier run's progress: add --resume to send only what it "
                "did not confirm, or remove the file to start over"
            )
        try:
            if resume:
                self.done = frozenset(_read(path, source, size))
                self._out: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115
            else:
                self._out = open(path, "w", encoding="utf-8")  # noqa: SIM115
                header = _Header(_KIND, source, size)
                self._out.write(msgspec.json.encode(header).decode() + "\n")
                self._out.flush()
        except OSError as exc:
            raise StateError(f"cannot use {path}: {exc.strerror or exc}") from None

    def confirm(self, number: int) -> None:
        """Record that record ``number`` was confirmed sent (buffered; see :meth:`flush`)."""
        self._out.write(f"{number}\n")

    def flush(self) -> None:
        """Push what :meth:`confirm` wrote to the operating system."""
        self._out.flush()

    def close(self) -> None:
        """Flush and close the file."""
        self._out.close()


def _read(path: str, source: str, size: int) -> Iterable[int]:
    with open(path, encoding="utf-8") as lines:
        try:
            header = msgspec.json.decode(next(lines, ""), type=_Header)
        except msgspec.DecodeError:
            header = None
        if header is None or header.kind != _KIND:
            raise StateError(f"{path} is not a state file of tfso-events publish")
        if header.file != source or header.size != size:
            raise StateError(
                f"{path} is the state of {header.file} ({header.size} bytes), not of "
                f"{source} ({size} bytes): a changed input would resume at the wrong records"
            )
        found = []
        for line in lines:
            text = line.strip()
            if text.isdigit() and line.endswith("\n"):  # a line cut short is not trusted
                found.append(int(text))
        return found
