"""Blocking publishers for scripts and notebooks, with the same names as the async ones.

::

    from tfso_events.sync import TfsoEventApiClient

    with TfsoEventApiClient("dev", client_id, client_secret) as client:
        client.publish(event)

Each facade owns one private event loop running on a daemon thread for its whole life;
the async client is created on that loop and every call is submitted to it with
``asyncio.run_coroutine_threadsafe``. Connections and tokens therefore stay on one loop
(no ``asyncio.run`` per call, no ``nest_asyncio``), and the facade works the same in a plain
script, inside a running event loop (a notebook cell, an async test) and from several
threads at once. ``close()`` flushes what is in flight; a facade left open is closed at
interpreter exit without hanging it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from tfso_events.errors import ConfigurationError
from tfso_events.models._base import TfsoEvent
from tfso_events.publishing._protocols import Publisher
from tfso_events.results import BatchResult, PublishResult

if TYPE_CHECKING:
    from tfso_events._secret import Secret
    from tfso_events.publishing import api as _api
    from tfso_events.publishing import eventbridge as _eventbridge
    from tfso_events.publishing._batching import RetryPolicy
    from tfso_events.results import OnResult

__all__ = ["TfsoEventApiClient", "TfsoEventBridgeClient"]

_log = logging.getLogger("tfso_events.sync")
_T = TypeVar("_T")
_counter = itertools.count(1)

#: How long interpreter exit waits for a forgotten facade to flush before giving up.
EXIT_TIMEOUT = 10.0


_C = TypeVar("_C", bound=Publisher)


class _LoopThread:
    """One event loop running forever on a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def schedule(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError(
                "a tfso_events.sync client was called from its own event loop thread, which "
                "would deadlock; in async code use the async client from tfso_events instead"
            )
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def submit(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        return self.wait(self.schedule(coro), timeout)

    @staticmethod
    def wait(future: concurrent.futures.Future[_T], timeout: float | None = None) -> _T:
        try:
            return future.result(timeout)
        except BaseException:
            # KeyboardInterrupt or a timeout in the caller: stop the work on the loop too.
            future.cancel()
            raise

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def _shutdown(runner: _LoopThread, client: Publisher, timeout: float) -> None:
    """Close the async client on its loop, then stop the loop (also run at exit)."""
    if runner.loop.is_closed():
        return
    try:
        runner.submit(client.aclose(), timeout)
    except (concurrent.futures.TimeoutError, TimeoutError):
        _log.warning("closing a tfso-events client timed out after %.0f s", timeout)
    finally:
        runner.stop()


class _SyncPublisher(Generic[_C]):
    """The one generic wrapper behind both blocking clients."""

    def __init__(self, factory: Callable[[], _C], name: str) -> None:
        self._runner = _LoopThread(f"tfso-events-{name}-{next(_counter)}")

        async def create() -> _C:
            return factory()

        try:
            self._client = self._runner.submit(create())
        except BaseException:
            self._runner.stop()
            raise
        self._closed = False
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(
            self, _shutdown, self._runner, self._client, EXIT_TIMEOUT
        )

    def _call(self, make: Callable[[], Awaitable[_T]]) -> _T:
        async def run() -> _T:
            return await make()

        # Checked and scheduled under the lock close() takes: a call either lands on the
        # loop before close() schedules aclose() (and is flushed, or refused by the async
        # client as closed), or sees the facade closed. It never meets a stopped loop.
        with self._lock:
            if self._closed:
                raise ConfigurationError("this client is closed; create a new one to publish")
            future = self._runner.schedule(run())
        return self._runner.wait(future)

    def open(self) -> Self:
        """Prepare the transport now (the async client's ``open()``), and return this
        client: in a Lambda handler module, at import time. Idempotent."""
        self._call(lambda: self._client.open())
        return self

    def publish(self, event: TfsoEvent) -> PublishResult:
        """Publish one event and block until it has an id (or raise why not)."""
        return self._call(lambda: self._client.publish(event))

    def publish_many(
        self,
        events: Iterable[TfsoEvent],
        *,
        raise_on_error: bool = True,
        on_result: OnResult | None = None,
        retry: RetryPolicy | None = None,
    ) -> BatchResult:
        """Publish many events and block until every one has an id or a failure.

        Raises :class:`~tfso_events.PublishError` (carrying the :class:`BatchResult`) when
        any failed, unless ``raise_on_error=False``. ``on_result`` and ``retry`` are the
        async client's; ``on_result`` runs on the facade's loop thread, so keep it short
        and thread-safe (a counter, a queue).
        """
        batch = list(events)
        return self._call(
            lambda: self._client.publish_many(
                batch, raise_on_error=raise_on_error, on_result=on_result, retry=retry
            )
        )

    def close(self) -> None:
        """Flush what is in flight, close connections and stop the background loop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__module__}.{type(self).__name__} {state} {self._client!r}>"


class TfsoEventBridgeClient(_SyncPublisher["_eventbridge.TfsoEventBridgeClient"]):
    """Blocking :class:`tfso_events.TfsoEventBridgeClient`: same arguments, same results.

    ::

        with TfsoEventBridgeClient("dev") as client:
            client.publish(event)
    """

    def __init__(
        self, bus_environment: str | None = None, event_bus_name: str | None = None, **options: Any
    ):
        def factory() -> _eventbridge.TfsoEventBridgeClient:
            from tfso_events.publishing.eventbridge import TfsoEventBridgeClient as Async

            return Async(bus_environment, event_bus_name, **options)

        super().__init__(factory, "eventbridge")


class TfsoEventApiClient(_SyncPublisher["_api.TfsoEventApiClient"]):
    """Blocking :class:`tfso_events.TfsoEventApiClient`: same arguments, same results.

    ::

        with TfsoEventApiClient() as client:  # or ("dev", client_id, client_secret)
            client.publish(event)
    """

    def __init__(
        self,
        environment: str | None = None,
        auth0_application_id: str | None = None,
        auth0_secret_id: str | Secret | None = None,
        **options: Any,
    ):
        def factory() -> _api.TfsoEventApiClient:
            from tfso_events.publishing.api import TfsoEventApiClient as Async

            return Async(environment, auth0_application_id, auth0_secret_id, **options)

        super().__init__(factory, "api")
