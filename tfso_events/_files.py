"""Files the package writes that may hold event payloads or progress: created 0600.

``--failed-out`` and ``--unconfirmed-out`` of ``tfso-events publish`` hold whole event
payloads, ``--state`` what was sent, the hub's ``--db`` every event it received. Created
with the process umask they would be readable by every user of the machine (0644), so
they are created owner-only instead, and an existing regular file is tightened to 0600
before anything is written to it. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

__all__ = ["PRIVATE_MODE", "create_private", "open_private"]

#: Owner read and write, nothing for group and others.
PRIVATE_MODE = 0o600


def _private_fd(path: str | os.PathLike[str], flags: int) -> int:
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_MODE)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
            # A file that was already there: tighten it before payloads go in (best
            # effort: a file of another owner keeps its mode).
            with contextlib.suppress(OSError):
                os.fchmod(fd, PRIVATE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


@overload
def open_private(
    path: str | os.PathLike[str],
    mode: Literal["wb", "ab"],
    *,
    encoding: None = None,
    buffering: int = -1,
) -> BinaryIO: ...
@overload
def open_private(
    path: str | os.PathLike[str],
    mode: Literal["w", "a"],
    *,
    encoding: str = "utf-8",
    buffering: int = -1,
) -> TextIO: ...
def open_private(
    path: str | os.PathLike[str], mode: str, *, encoding: str | None = None, buffering: int = -1
) -> IO[Any]:
    """``open(path, mode, buffering=...)`` for writing (``"w"``, ``"a"``, ``"wb"``,
    ``"ab"``), the file created 0600 (an existing one tightened to 0600). Raises
    :class:`OSError` as :func:`open` does."""
    flags = os.O_WRONLY | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = _private_fd(path, flags)
    try:
        if "b" in mode:
            return os.fdopen(fd, mode, buffering)
        return os.fdopen(fd, mode, buffering, encoding=encoding or "utf-8")
    except BaseException:
        os.close(fd)
        raise


def create_private(path: str | os.PathLike[str]) -> None:
    """Make sure ``path`` exists, created 0600 (an existing file tightened to 0600), and
    leave its content alone: for files another library then opens (SQLite)."""
    os.close(_private_fd(path, os.O_WRONLY))
