"""Blocking work off the event loop, on a short-lived daemon thread of its own.

Not the loop's default executor: its threads are joined at interpreter exit, so a
call left blocked (a read of a pipe with nothing to read) would hold the exit, and a
client's one-off call would leave a thread behind it. Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["in_a_thread"]

_T = TypeVar("_T")


async def in_a_thread(fn: Callable[[], _T], *, name: str, may_block: bool = False) -> _T:
    """``fn()`` on a daemon thread named ``name`` while the loop keeps running. Once the
    call returns, or the caller is cancelled, the thread is given a second to end, so
    none is left behind; with ``may_block`` (``fn`` may never return: a read of a pipe)
    a cancelled caller does not wait for it, and the thread is abandoned to the exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():  # the caller was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting caller
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(settle, value, error)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        return await future
    finally:
        if future.done() and not (may_block and future.cancelled()):
            thread.join(1.0)  # settled (or given up on): a moment from its end
