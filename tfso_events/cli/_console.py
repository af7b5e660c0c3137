"""Terminal output of the ``tfso-events`` command: tables and progress.

``rich`` (the optional ``[cli]`` extra) draws them when it is installed and the output
is a terminal; otherwise tables are plain aligned text and progress is a line on
stderr every few seconds, which reads well in CI logs and pipes. Only the command
imports this module: the library never imports rich.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, Self

__all__ = ["Progress", "counted", "print_table", "use_rich"]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun`` as a person writes it: "1 record", "0 records", "2 records"."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def use_rich(stream: IO[str]) -> bool:
    """``True`` when rich is installed and ``stream`` is a terminal."""
    if not stream.isatty():
        return False
    try:
        import rich  # noqa: F401 - only asking whether it is installed
    except ImportError:
        return False
    return True


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    stream: IO[str] | None = None,
    keep: Sequence[int] = (),
) -> None:
    """Print ``rows`` under ``headers``: a rich table on a terminal, else aligned text.

    The columns in ``keep`` (indices) are values a user copies: they are never cut or
    wrapped. Other columns wrap first; on a terminal too narrow for the kept columns
    whole, each row is printed as a block of ``header: value`` lines instead.
    """
    out = stream or sys.stdout
    if use_rich(out):
        from rich.console import Console
        from rich.table import Table

        console = Console(file=out)
        kept = {i: max([len(headers[i]), *(len(row[i]) for row in rows)]) for i in keep}
        others = len(headers) - len(kept)
        # each column's border and padding (3), and at least 8 cells for each other
        needed = sum(kept.values()) + 3 * len(headers) + 1 + 8 * others
        if console.width >= needed:
            table = Table(title=title, title_justify="left")
            for i, header in enumerate(headers):
                if i in kept:
                    table.add_column(header, no_wrap=True, min_width=kept[i])
                else:
                    table.add_column(header, overflow="fold")
            for row in rows:
                table.add_row(*row)
            console.print(table)
            return
        if title:
            console.print(title, soft_wrap=True, markup=False, highlight=False)
        width = max(len(h) for h in headers)
        for row in rows:
            for header, cell in zip(headers, row, strict=True):
                # soft_wrap: the terminal folds a long value; rich never cuts it
                console.print(
                    f"{header.rjust(width)}: {cell}", soft_wrap=True, markup=False, highlight=False
                )
            console.print()
        return
    if title:
        print(title, file=out)
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    for line in (headers, ["-" * w for w in widths], *rows):
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip(),
            file=out,
        )


class Progress:
    """Progress of a long command on stderr: a rich bar on a terminal, else one line
    at most every ``interval`` seconds (and a last one if any was printed).

    ``total`` is the size of the work in bytes when known (a regular file), so the bar
    can fill and estimate the time left; ``update`` sets the records read, the bytes
    done and the counters shown (``sent=10, failed=1``). Use it as a context manager.
    """

    def __init__(
        self, description: str, *, total: int | None = None, interval: float = 2.0
    ) -> None:
        self._description = description
        self._total = total
        self._interval = interval
        self._counts: dict[str, int] = {}
        self._read = 0
        self._started = time.monotonic()
        self._last = self._started
        self._rich: Any = None
        self._task: Any = None
        self._printed = False

    def __enter__(self) -> Self:
        if use_rich(sys.stderr):
            from rich import progress as bar
            from rich.console import Console

            self._rich = bar.Progress(
                bar.SpinnerColumn(),
                bar.TextColumn("[bold]{task.description}"),
                bar.BarColumn(),
                bar.TextColumn("{task.fields[read]} read, {task.fields[counts]}"),
                bar.TimeElapsedColumn(),
                bar.TimeRemainingColumn(),
                console=Console(file=sys.stderr),
            )
            self._rich.start()
            self._task = self._rich.add_task(
                self._description, total=self._total, read=0, counts=""
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif self._printed:  # a short run has its summary only; a long one, a last line
            self._line()

    def update(self, read: int, done: int, **counts: int) -> None:
        """Set how many records were ``read``, the bytes ``done`` and the counters."""
        self._read = read
        self._counts = counts
        if self._rich is not None:
            self._rich.update(self._task, completed=done, read=read, counts=self._summary())
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._line()

    def _summary(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        sent = self._counts.get("sent", 0)
        parts = [f"{value} {name}" for name, value in self._counts.items()]
        return ", ".join([*parts, f"{sent / elapsed:.0f} events/s"])

    def _line(self) -> None:
        self._printed = True
        print(
            f"{self._description}: {self._read} read, {self._summary()}",
            file=sys.stderr,
            flush=True,
        )
