"""The ``--state`` file of ``tfso-events publish``: which records of an input file were
confirmed sent, so ``--resume`` sends the rest and nothing twice.

The file is text: a JSON header naming the input (its absolute path, size and SHA-256,
so a changed or reordered input is refused), then the number of each record the events
API or EventBridge confirmed (1-based, in the order the answers came), one per line.
Each confirmation reaches the operating system as it arrives (a line-buffered write),
so a killed process (SIGKILL, OOM) loses none: resuming re-sends at most the records in
flight. The file is also synced to disk (``fsync``) at most once a second
(``FSYNC_EVERY``) and when it is closed, which bounds what a power cut can cost without
a disk flush per record. A line cut short by a crash is ignored (and cut off, so the
next number is not glued to it). Records are counted, not located by line, so a JSON array
with several records on one line resumes as exactly as NDJSON does.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import IO

import msgspec

from tfso_events._files import open_private

__all__ = ["StateError", "StateFile"]

_KIND = "tfso-events publish state"
#: Seconds between two ``fsync`` of the state file while confirmations arrive.
FSYNC_EVERY = 1.0


class StateError(Exception):
    """The state file cannot be used for this input (a usage error, exit 2)."""


class _Header(msgspec.Struct):
    kind: str
    file: str
    size: int
    sha256: str


class StateFile:
    """Open ``path``, the state of the input file ``source`` (a regular file).

    Without ``resume``, ``path`` must not already hold progress (that would be lost, or
    a forgotten ``--resume``); with it, it must be the state of this very input, the
    records it lists are :attr:`done`, and new confirmations are appended. Reading the
    input once for its SHA-256 is the cost of that check (a few seconds per GB).
    """

    def __init__(self, path: str, source: str, *, resume: bool) -> None:
        self.path = path
        self.done: frozenset[int] = frozenset()
        self._resume = resume
        self._out: IO[str] | None = None
        self._synced = 0.0  # time.monotonic() of the last fsync
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        if resume and not exists:
            raise StateError(f"--resume: {path} does not exist or is empty (no earlier run)")
        if exists and not resume:
            raise StateError(
                f"{path} holds an earlier run's progress: add --resume to send only what it "
                "did not confirm, or remove the file to start over"
            )
        try:
            self._header = _Header(_KIND, os.path.realpath(source), *_fingerprint(source))
            if resume:
                self.done, self._partial = _read(path, self._header)
        except OSError as exc:
            raise StateError(f"cannot use {path}: {exc.strerror or exc}") from None

    def open(self) -> None:
        """Start recording: nothing is written before this (so a run refused for another
        reason leaves no state behind). Raises :class:`StateError`."""
        try:
            if self._resume:
                if self._partial:  # a last line a crash cut short: not trusted, cut off
                    os.truncate(self.path, os.path.getsize(self.path) - self._partial)
                # Line-buffered: each confirmation is one write(2), at once.
                self._out = open_private(self.path, "a", buffering=1)
            else:
                self._out = open_private(self.path, "w", buffering=1)
                self._out.write(msgspec.json.encode(self._header).decode() + "\n")
            self._sync()
        except OSError as exc:
            raise StateError(f"cannot use {self.path}: {exc.strerror or exc}") from None

    def confirm(self, number: int) -> None:
        """Record that record ``number`` was confirmed sent: written to the operating
        system now, synced to disk within ``FSYNC_EVERY`` seconds. Raises ``OSError``."""
        assert self._out is not None, "open() first"
        self._out.write(f"{number}\n")
        if time.monotonic() - self._synced >= FSYNC_EVERY:
            self._sync()

    def flush(self) -> None:
        """Sync what :meth:`confirm` wrote to disk now (the run stops, or a chunk ends)."""
        if self._out is not None:
            self._sync()

    def close(self) -> None:
        """Sync and close the file."""
        if self._out is not None and not self._out.closed:
            try:
                self._sync()
            finally:
                self._out.close()

    def _sync(self) -> None:
        assert self._out is not None
        self._out.flush()
        os.fsync(self._out.fileno())
        self._synced = time.monotonic()


def _fingerprint(source: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as stream:
        while block := stream.read(1 << 20):
            size += len(block)
            digest.update(block)
    return size, digest.hexdigest()


def _read(path: str, expected: _Header) -> tuple[frozenset[int], int]:
    """The record numbers ``path`` lists, and the length of a last line a crash cut
    short (``2`` of ``21``): it is not trusted, and :meth:`StateFile.open` cuts it off
    so the next number starts a line."""
    with open(path, "rb") as stream:
        data = stream.read()
    head, _, body = data.partition(b"\n")
    try:
        header = msgspec.json.decode(head, type=_Header)
    except msgspec.DecodeError:
        header = None
    if header is None or header.kind != _KIND:
        raise StateError(f"{path} is not a state file of tfso-events publish")
    if header.file != expected.file:
        raise StateError(f"{path} is the state of {header.file}, not of {expected.file}")
    if (header.size, header.sha256) != (expected.size, expected.sha256):
        raise StateError(
            f"{expected.file} changed since {path} was written (size or content): "
            "resuming would skip the wrong records"
        )
    lines = body.split(b"\n")
    partial = lines.pop()  # b"" when the file ends with a newline
    return frozenset(int(line) for line in lines if line.strip().isdigit()), len(partial)
