"""``MemoryPublisher`` and ``SyncMemoryPublisher``: publishers that keep what they accept.

They are the EventBridge publisher with its transport swapped for a list: the same
validation (``detail_json()``, the PutEvents size, DetailType and Source rules), the
same batching, retry loop and results, the same errors with the same messages. Only the
wire is gone: an accepted event is recorded, in order, with a fresh id. Retries do not
sleep (the default :class:`~tfso_events.RetryPolicy` has no delays here), so a test of
throttling runs in microseconds.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from tfso_events.errors import ConfigurationError
from tfso_events.models._base import TfsoEvent
from tfso_events.publishing._batching import Entry, Outcome, RetryPolicy
from tfso_events.publishing.eventbridge import (
    DEFAULT_MAX_REQUEST_BYTES,
    TfsoEventBridgeClient,
    _outcomes,
)
from tfso_events.results import BatchResult, OnResult, PublishResult
from tfso_events.sync import _SyncPublisher
from tfso_events.testing._match import describe_mismatch, matches

if TYPE_CHECKING:
    from types_aiobotocore_events.type_defs import (
        PutEventsRequestEntryTypeDef,
        PutEventsResultEntryTypeDef,
    )

__all__ = ["MemoryPublisher", "PublishedEvent", "SyncMemoryPublisher"]

E = TypeVar("E", bound=TfsoEvent)

#: Retries without waiting: at most 8 tries of an entry (the clients' own policy is a
#: time budget, which a retry loop that never sleeps would not spend), no rate limiting.
INSTANT_RETRY = RetryPolicy(
    max_attempts=8, base_delay=0.0, max_delay=0.0, max_retry_after=0.0, adaptive=False
)
#: What EventBridge says when it throttles an entry.
THROTTLED = ("ThrottlingException", "Rate exceeded")


@dataclasses.dataclass(frozen=True, slots=True)
class PublishedEvent:
    """One accepted event: its ``event_id``, the ``event`` as given, the ``detail``
    JSON exactly as it would have gone on the wire, and the ``event_bus_name``."""

    event_id: str
    event: TfsoEvent
    detail: str
    event_bus_name: str


@dataclasses.dataclass(slots=True)
class _Refusal:
    when: Callable[[TfsoEvent], bool]
    code: str
    message: str


class _Recorder:
    """The shared state behind a memory publisher: records and the faults to inject."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[PublishedEvent] = []
        self.throttle_left = 0
        self.refusals: list[_Refusal] = []
        self.configuration_error: str | None = None
        self.sends = 0

    def answer(self, entry: Entry[PutEventsRequestEntryTypeDef]) -> PutEventsResultEntryTypeDef:
        """What EventBridge would answer for this entry, recording it when accepted."""
        if self.throttle_left > 0:
            self.throttle_left -= 1
            return {"ErrorCode": THROTTLED[0], "ErrorMessage": THROTTLED[1]}
        for refusal in self.refusals:
            if refusal.when(entry.event):
                return {"ErrorCode": refusal.code, "ErrorMessage": refusal.message}
        event_id = str(uuid.uuid4())
        payload = entry.payload
        self.records.append(
            PublishedEvent(event_id, entry.event, payload["Detail"], payload["EventBusName"])
        )
        return {"EventId": event_id}


class _MemoryBridge(TfsoEventBridgeClient):
    """The EventBridge client with an in-memory transport (everything else is real)."""

    def __init__(self, recorder: _Recorder, **options: Any) -> None:
        super().__init__("dev", **options)
        self._recorder = recorder

    def __repr__(self) -> str:
        return f"MemoryPublisher(published={len(self._recorder.records)})"

    async def _connect(self) -> None:
        self._raise_if_misconfigured()

    def _raise_if_misconfigured(self) -> None:
        if self._closed:
            raise ConfigurationError("this TfsoEventBridgeClient client is closed")
        message = self._recorder.configuration_error
        if message is not None:
            raise ConfigurationError(message)

    async def _send(self, entries: Sequence[Entry[PutEventsRequestEntryTypeDef]]) -> list[Outcome]:
        self._raise_if_misconfigured()  # deliver() turns it into every entry's failure
        recorder = self._recorder
        with recorder.lock:
            recorder.sends += 1
            answers = [recorder.answer(entry) for entry in entries]
        return list(
            _outcomes(
                entries,
                [(a.get("EventId"), a.get("ErrorCode"), a.get("ErrorMessage")) for a in answers],
            )
        )

    async def _close_transport(self) -> None:
        return None


class MemoryPublisher:
    """An async :class:`~tfso_events.Publisher` that records what it accepts.

    It validates exactly as :class:`~tfso_events.TfsoEventBridgeClient` does (the same
    code runs: invalid and oversized events raise the same errors with the same
    messages, and nothing is recorded), retries throttled events the same way (without
    sleeping), and returns the same :class:`~tfso_events.PublishResult` /
    :class:`~tfso_events.BatchResult`, with fresh ids::

        publisher = MemoryPublisher()
        await service.run(publisher)
        publisher.assert_published(BankTransactionCreatedV1Event, content__status__code=100)

    Make it fail to test a service's error paths: :meth:`throttle`, :meth:`refuse`,
    :meth:`misconfigure`; :meth:`reset` heals it. Options: ``event_bus_name``,
    ``max_request_bytes`` (the PutEvents size limit, 256 KiB) and ``retry`` (default: 8
    attempts, no delays, no rate limiting).
    """

    def __init__(
        self,
        *,
        event_bus_name: str | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        retry: RetryPolicy = INSTANT_RETRY,
    ) -> None:
        self._recorder = _Recorder()
        self._client = _MemoryBridge(
            self._recorder,
            event_bus_name=event_bus_name,
            max_request_bytes=max_request_bytes,
            retry=retry,
        )

    def __repr__(self) -> str:
        return f"MemoryPublisher(published={len(self._recorder.records)})"

    # -- the Publisher protocol -------------------------------------------------------

    async def publish(self, event: TfsoEvent) -> PublishResult:
        """Publish one event: its :class:`~tfso_events.PublishResult`, or the error the
        EventBridge client would raise (validation, size, refusal, configuration)."""
        return await self._client.publish(event)

    async def publish_many(
        self,
        events: Iterable[TfsoEvent],
        *,
        raise_on_error: bool = True,
        on_result: OnResult | None = None,
        retry: RetryPolicy | None = None,
    ) -> BatchResult:
        """Publish many events, as ``TfsoEventBridgeClient.publish_many`` does: all are
        validated first (one invalid: nothing is recorded), then each ends with an id or
        a failure; :class:`~tfso_events.PublishError` when any failed, unless
        ``raise_on_error=False``; ``on_result`` and ``retry`` as there."""
        return await self._client.publish_many(
            events, raise_on_error=raise_on_error, on_result=on_result, retry=retry
        )

    async def open(self) -> MemoryPublisher:
        """As the EventBridge client's ``open()``: raises what ``misconfigure()`` set
        (or that it is closed); otherwise nothing to prepare."""
        await self._client.open()
        return self

    async def aclose(self) -> None:
        """Refuse further publishes (as a closed client does); the records stay."""
        await self._client.aclose()

    async def __aenter__(self) -> MemoryPublisher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`aclose` has been called."""
        return self._client.closed

    # -- what was published -------------------------------------------------------------

    @property
    def records(self) -> list[PublishedEvent]:
        """Every accepted event, oldest first, with its id and wire detail."""
        with self._recorder.lock:
            return list(self._recorder.records)

    @property
    def events(self) -> list[TfsoEvent]:
        """Every accepted event, oldest first."""
        return [record.event for record in self.records]

    def published(self, cls: type[E]) -> list[E]:
        """The accepted events of class ``cls`` (a ``<Name>Event``), oldest first."""
        return [record.event for record in self.records if type(record.event) is cls]

    def assert_published(self, cls: type[E], count: int | None = None, **where: Any) -> list[E]:
        """Assert that events of ``cls`` were published, and return those that match.

        ``where`` compares attributes by path, as :func:`~tfso_events.testing.build`
        writes them (``content__status__code=200``; paths start at the event or at its
        detail). ``count=None`` asks for at least one match, a number for exactly that
        many. On failure the :class:`AssertionError` shows what was published instead,
        field by field.
        """
        candidates = self.published(cls)
        found = [event for event in candidates if matches(event, where)]
        if (count is None and found) or (count is not None and len(found) == count):
            return found
        wanted = "at least one" if count is None else f"exactly {count}"
        lines = [
            f"expected {wanted} {cls.__name__} ({cls.detail_type})"
            + (f" with {_where(where)}" if where else "")
            + f"; {len(found)} matched"
        ]
        if not candidates:
            kinds = sorted({record.event.detail_type for record in self.records})
            lines.append(
                f"no {cls.detail_type} was published; published: "
                + (", ".join(kinds) if kinds else "nothing")
            )
        for index, event in enumerate(candidates):
            lines.append(describe_mismatch(index, event, where))
        raise AssertionError("\n".join(lines))

    def clear(self) -> None:
        """Forget every recorded event (faults are kept)."""
        with self._recorder.lock:
            self._recorder.records.clear()

    # -- failure injection --------------------------------------------------------------

    def throttle(self, times: int = 1) -> None:
        """Answer the next ``times`` entries sent with ``ThrottlingException``.

        A throttled entry is retried like the real client retries it: with the default
        policy an event throttled fewer than 8 times is delivered (``attempts`` says
        how often it was tried); throttle it more often to see a
        :class:`~tfso_events.DeliveryError` with code ``ThrottlingException``.
        """
        if times < 0:
            raise ValueError("times must not be negative")
        with self._recorder.lock:
            self._recorder.throttle_left += times

    def refuse(
        self,
        when: Callable[[TfsoEvent], bool] = lambda event: True,
        *,
        code: str = "InvalidArgument",
        message: str = "refused by the test",
    ) -> None:
        """Refuse, for good, every event for which ``when(event)`` is true, with the
        PutEvents error ``code``: ``publish()`` raises the
        :class:`~tfso_events.DeliveryError` the EventBridge client raises for that code
        (``ThrottlingException`` and ``InternalFailure`` are retried, as there)."""
        with self._recorder.lock:
            self._recorder.refusals.append(_Refusal(when, code, message))

    def misconfigure(
        self,
        message: str = "no AWS credentials found (MemoryPublisher.misconfigure)",
    ) -> None:
        """Make every publish raise :class:`~tfso_events.ConfigurationError` with
        ``message``, as a client without credentials or region does, until
        :meth:`reset`."""
        with self._recorder.lock:
            self._recorder.configuration_error = message

    def reset(self) -> None:
        """Turn every injected failure off (the records are kept)."""
        with self._recorder.lock:
            self._recorder.throttle_left = 0
            self._recorder.refusals.clear()
            self._recorder.configuration_error = None


def _where(where: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in where.items())


class SyncMemoryPublisher(_SyncPublisher[MemoryPublisher]):
    """A blocking :class:`~tfso_events.SyncPublisher` that records what it accepts.

    The :class:`MemoryPublisher` behind it runs on its own event loop thread, exactly as
    the :mod:`tfso_events.sync` facades run the real clients, so it behaves as they do;
    the inspection and failure methods are the same as :class:`MemoryPublisher`'s.
    """

    def __init__(
        self,
        *,
        event_bus_name: str | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        retry: RetryPolicy = INSTANT_RETRY,
    ) -> None:
        def factory() -> MemoryPublisher:
            return MemoryPublisher(
                event_bus_name=event_bus_name, max_request_bytes=max_request_bytes, retry=retry
            )

        super().__init__(factory, "memory")

    @property
    def memory(self) -> MemoryPublisher:
        """The async :class:`MemoryPublisher` behind this facade."""
        return self._client

    @property
    def records(self) -> list[PublishedEvent]:
        """Every accepted event, oldest first, with its id and wire detail."""
        return self._client.records

    @property
    def events(self) -> list[TfsoEvent]:
        """Every accepted event, oldest first."""
        return self._client.events

    def published(self, cls: type[E]) -> list[E]:
        """The accepted events of class ``cls``, oldest first."""
        return self._client.published(cls)

    def assert_published(self, cls: type[E], count: int | None = None, **where: Any) -> list[E]:
        """See :meth:`MemoryPublisher.assert_published`."""
        return self._client.assert_published(cls, count, **where)

    def clear(self) -> None:
        """Forget every recorded event."""
        self._client.clear()

    def throttle(self, times: int = 1) -> None:
        """See :meth:`MemoryPublisher.throttle`."""
        self._client.throttle(times)

    def refuse(
        self,
        when: Callable[[TfsoEvent], bool] = lambda event: True,
        *,
        code: str = "InvalidArgument",
        message: str = "refused by the test",
    ) -> None:
        """See :meth:`MemoryPublisher.refuse`."""
        self._client.refuse(when, code=code, message=message)

    def misconfigure(
        self, message: str = "no AWS credentials found (MemoryPublisher.misconfigure)"
    ) -> None:
        """See :meth:`MemoryPublisher.misconfigure`."""
        self._client.misconfigure(message)

    def reset(self) -> None:
        """See :meth:`MemoryPublisher.reset`."""
        self._client.reset()
