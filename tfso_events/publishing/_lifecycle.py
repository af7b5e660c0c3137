"""The open → closing → closed life both publishers share.

A publisher refuses new work as soon as ``aclose()`` starts, waits for the publishes in
flight (a subclass may flush more first, e.g. coalesced publishes), then closes its
transport. Written once here; each client only says how to flush and how to close.

A publisher also belongs to the event loop that first used it: its sessions and
connections live on that loop. Used from any other loop (a second ``asyncio.run``, after
the first loop closed), every publisher refuses with the same
:class:`~tfso_events.ConfigurationError` instead of a raw ``RuntimeError: Event loop is
closed`` from deep inside aiohttp or botocore.
"""

from __future__ import annotations

import asyncio
from typing import Self

from tfso_events.errors import ConfigurationError
from tfso_events.publishing._batching import InFlight

__all__ = ["PublisherLifecycle"]


class PublisherLifecycle:
    """Base of both async publishers: ``closed``, ``aclose()`` and ``async with``."""

    def __init__(self) -> None:
        self._closing = False  # aclose() has started: new work is refused
        self._closed = False  # the transport is (being) closed
        self._in_flight = InFlight()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the first use

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`aclose` has been called."""
        return self._closing

    async def open(self) -> Self:
        """Prepare the transport now instead of during the first publish, and return the
        client (idempotent; a no-op once open).

        In an AWS Lambda handler module, call it at import time (the init phase, which
        Lambda does not bill as request time) so the first request does not pay for
        importing and building the transport (``docs/performance.md``, cold start).
        What stops every call (no region, no credentials, a closed client) is raised
        here as the :class:`~tfso_events.ConfigurationError` it is.
        """
        self._check_open()
        await self._open_transport()
        return self

    async def aclose(self) -> None:
        """Refuse new publishes, wait for those in flight and close the connections this
        client opened. Safe to call twice."""
        if self._closing:
            return
        self._closing = True
        # Another loop cannot close what lives on the first one: say so (the client is
        # closed all the same: it refuses work from now on).
        self._bind_loop()
        await self._flush()
        await self._in_flight.wait_idle()
        self._closed = True
        await self._close_transport()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self._closing:
            raise ConfigurationError(
                f"this client is closed ({type(self).__name__}); create a new one (or "
                "publish inside `async with`)"
            )
        self._bind_loop()

    def _bind_loop(self) -> None:
        """Tie the client to the running loop on its first use; refuse any other."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            gone = " (that loop is closed now)" if self._loop.is_closed() else ""
            raise ConfigurationError(
                f"this {type(self).__name__} belongs to the event loop that first used "
                f"it{gone}; create one client per event loop (inside the asyncio.run that "
                "uses it), or use tfso_events.sync from plain code"
            )

    async def _flush(self) -> None:
        """Hand over work the client holds back (nothing by default)."""

    async def _open_transport(self) -> None:
        """Open what the first publish would open (nothing by default)."""

    async def _close_transport(self) -> None:
        """Close sessions and clients; called once, after the last publish finished."""
        raise NotImplementedError
