"""``TfsoEventBridgeClient``: publish straight to EventBridge with ``PutEvents`` (aioboto3).

For AWS workloads (Lambda, AppRunner, ECS) that have credentials in their environment.
How it is put together:

* validation first: every event is validated (``event.detail_json()``) and checked
  against the PutEvents limits (entry size, DetailType length, reserved ``aws.``
  sources) before any network call; in ``publish_many`` nothing is sent when any event
  fails these checks;
* entries are built once per event: ``Source``, ``DetailType``, ``Detail`` (the
  validated JSON, not encoded twice), ``EventBusName`` (the configured bus, else
  ``tfso-{module}-events`` per event: one ``PutEvents`` call may mix buses, because the
  bus is a field of each entry) and ``TraceHeader`` when Lambda set ``_X_AMZN_TRACE_ID``;
* ``publish_many`` cuts the entries into calls of at most 10 entries whose sizes (AWS's
  entry-size formula) sum to at most ``max_request_bytes``; concurrent ``publish()``
  calls are gathered into such calls by a :class:`~tfso_events.publishing._batching.
  Coalescer`; both run through :func:`~tfso_events.publishing._batching.deliver`, the
  retry loop the API client uses too, with one concurrency limit per client;
* per-entry ``ThrottlingException``/``InternalFailure`` are retried (only those
  entries), other codes are final; whole-call throttling, 5xx and connection errors
  (after botocore's own ``standard`` retries) retry the call. Botocore's errors are
  translated in :func:`_call_error`, and nowhere else;
* one aioboto3 session and one long-lived client per publisher, opened on first use
  and closed by :meth:`TfsoEventBridgeClient.aclose`.

aioboto3 and botocore are imported on first use, so constructing a client (at module
import in a Lambda, say) costs nothing until the first publish.

Delivery is at least once: a connection lost after EventBridge accepted a call makes
the retry send those entries again, and PutEvents does not deduplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

import tfso_events.telemetry as telemetry
from tfso_events._botocore import open_client, redact_botocore_logs
from tfso_events._threads import in_a_thread
from tfso_events.environments import amzn_trace_id, resolve_bus_environment
from tfso_events.errors import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    EventTooLargeError,
    EventValidationError,
    TfsoEventsError,
    delivery_error,
)
from tfso_events.models._base import TfsoEvent
from tfso_events.publishing._backpressure import DEFAULT_MAX_PENDING, PendingLimit
from tfso_events.publishing._batching import (
    DEFAULT_RETRY,
    UNANSWERED,
    AdaptiveRate,
    BatchResult,
    Coalescer,
    Entry,
    Outcome,
    PublishFailure,
    PublishResult,
    Rejected,
    Retry,
    RetryableCallError,
    RetryPolicy,
    chunk,
    deliver,
    settle_all,
)
from tfso_events.publishing._circuit import Circuit
from tfso_events.publishing._lean import CREDENTIALS_HINT
from tfso_events.publishing._lifecycle import PublisherLifecycle
from tfso_events.results import OnResult

if TYPE_CHECKING:
    import aioboto3
    from types_aiobotocore_events.client import EventBridgeClient
    from types_aiobotocore_events.type_defs import (
        PutEventsRequestEntryTypeDef,
    )

    from tfso_events.publishing._lean import LeanPutEvents

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_TRANSPORT",
    "MAX_BUS_NAME_LENGTH",
    "MAX_DETAIL_TYPE_LENGTH",
    "MAX_ENTRIES",
    "MAX_REQUEST_BYTES_LIMIT",
    "MAX_RESOURCE_LENGTH",
    "MAX_TRACE_HEADER_LENGTH",
    "TRANSPORTS",
    "TfsoEventBridgeClient",
    "redact_botocore_logs",
]

log = logging.getLogger("tfso_events.publishing.eventbridge")

#: PutEvents takes at most this many entries per call.
MAX_ENTRIES = 10
#: Default ``max_request_bytes``: 256 KiB, what most targets (SQS, Lambda) still accept.
DEFAULT_MAX_REQUEST_BYTES = 256 * 1024
#: The largest ``max_request_bytes`` allowed: EventBridge's bus limit since 2026.
MAX_REQUEST_BYTES_LIMIT = 1024 * 1024
#: PutEvents refuses a longer ``DetailType``.
MAX_DETAIL_TYPE_LENGTH = 128
#: botocore's service model (``TraceHeader``): 1 to 500 characters.
MAX_TRACE_HEADER_LENGTH = 500
#: botocore's service model (``NonPartnerEventBusNameOrArn``): 1 to 1600 characters,
#: a name or an event-bus ARN matching this pattern.
MAX_BUS_NAME_LENGTH = 1600
_BUS_NAME = re.compile(
    r"(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[\.\-_A-Za-z0-9]+"
)
#: botocore's service model (``EventResource``): at most 2048 characters, an ARN.
MAX_RESOURCE_LENGTH = 2048
_ARN = re.compile(r"arn:[\w-]+:[\w-]*:[\w-]*:[0-9]*:.+", re.DOTALL)
#: ``PutEvents`` calls in flight at once (and the least size of the connection pool).
DEFAULT_MAX_CONCURRENCY = 16
#: How ``PutEvents`` calls are made: ``"lean"`` (SigV4 over aiohttp, credentials, region
#: and endpoint from botocore's resolution) or ``"botocore"`` (an aiobotocore client).
TRANSPORTS = ("lean", "botocore")
#: The default ``transport`` (docs/publishing-eventbridge.md says why).
DEFAULT_TRANSPORT: Literal["lean", "botocore"] = "lean"

#: Per-entry codes worth another try; every other code is final.

_RETRYABLE_ENTRY_CODES = frozenset({"ThrottlingException", "InternalFailure"})
#: Whole-call codes that say "slow down" (they cut the adaptive send rate).
_THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
#: Whole-call codes retried like a 5xx: those, timeouts and internal errors.
_THROTTLED_CALL_CODES = _THROTTLING_CODES | {
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalException",
    "InternalFailure",
    "ServiceUnavailable",
}
#: Whole-call codes that mean the credentials are wrong or lack permission.
_AUTH_CALL_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
        "NotAuthorized",
    }
)


class _Shape(NamedTuple):
    """What every entry of one event class shares."""

    source: str
    detail_type: str
    bus: str
    size: int  # bytes of Source and DetailType in AWS's entry-size formula


class TfsoEventBridgeClient(PublisherLifecycle):
    """Publish events to the TFSO Event Hub with EventBridge ``PutEvents``.

    ``bus_environment`` is ``dev``, ``pre-prod``, ``prod`` or ``local`` (default:
    ``TFSO_EVENTS_ENVIRONMENT``, as for the API client); ``event_bus_name`` a bus name
    or ARN (default: ``tfso-{module}-events`` for each event's module, in every
    environment). In ``dev``, ``pre-prod`` and ``prod``, credentials and region come
    from the standard AWS environment (a role, ``AWS_*`` variables, ``AWS_PROFILE``), as
    for any AWS SDK, and they choose the account, hence the environment's buses. In
    ``local`` the client sends to ``tfso-events hub`` (``AWS_ENDPOINT_URL_EVENTBRIDGE``,
    ``AWS_ENDPOINT_URL``, else ``http://127.0.0.1:8642``) with dummy credentials and
    region ``eu-west-1``: the shell's AWS configuration is neither needed nor sent.
    Keyword options:

    * ``region_name`` — the AWS region (default: the AWS configuration; ``eu-west-1``
      in ``local``);
    * ``endpoint_url`` — another EventBridge endpoint, such as an emulator (botocore
      also honours ``AWS_ENDPOINT_URL_EVENTBRIDGE``);
    * ``session`` — an :class:`aioboto3.Session` to create the client from (in
      ``local`` too: then its credentials are used);
    * ``max_concurrency`` — ``PutEvents`` calls in flight at once (default 16; the
      connection pool is at least as large);
    * ``max_request_bytes`` — the size limit of one call, summed with AWS's entry-size
      formula (default 256 KiB, at most 1 MiB);
    * ``retry`` — :class:`~tfso_events.RetryPolicy` for throttled and failed entries;
    * ``linger`` — seconds a ``publish()`` waits for others to share its call (default
      0: one turn of the event loop);
    * ``max_pending`` — ``publish()`` calls the client holds at once (default 10,000,
      :data:`DEFAULT_MAX_PENDING`); beyond it ``publish()`` waits for a place
      (backpressure) before its event is encoded, under the retry deadline;
    * ``transport`` — ``"lean"`` (default: each call signed with SigV4 and posted over
      aiohttp, credentials, region and endpoint resolved as botocore resolves them,
      read from the environment without botocore where only it could answer; a quarter
      of the CPU per event) or ``"botocore"`` (an aiobotocore client); both behave the same
      (docs/publishing-eventbridge.md says why the lean one is the default).

    When EventBridge stops answering (connections refused, timeouts, 5xx), every
    pending publish waits while one call at a time probes it (the client's circuit,
    ``docs/reliability.md``), and the ``tfso_events.publishing`` log says so once.

    ::

        async with TfsoEventBridgeClient("prod") as client:   # or TFSO_EVENTS_ENVIRONMENT
            result = await client.publish(event)           # PublishResult
            batch = await client.publish_many(events)      # BatchResult

    A client belongs to the event loop that first publishes with it.
    """

    def __init__(
        self,
        bus_environment: str | None = None,
        event_bus_name: str | None = None,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        session: aioboto3.Session | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        retry: RetryPolicy = DEFAULT_RETRY,
        linger: float = 0.0,
        max_pending: int = DEFAULT_MAX_PENDING,
        transport: Literal["lean", "botocore"] = DEFAULT_TRANSPORT,
    ) -> None:
        super().__init__()
        self._environment = resolve_bus_environment(bus_environment, endpoint_url=endpoint_url)
        if transport not in TRANSPORTS:
            raise ConfigurationError(
                f"transport must be one of {', '.join(map(repr, TRANSPORTS))}, got {transport!r}"
            )
        self._transport: Literal["lean", "botocore"] = transport
        if event_bus_name is not None and not event_bus_name.strip():
            raise ConfigurationError(
                "event_bus_name must be a bus name or ARN, or None for tfso-{module}-events"
            )
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if not 1 <= max_request_bytes <= MAX_REQUEST_BYTES_LIMIT:
            raise ConfigurationError(
                f"max_request_bytes must be between 1 and {MAX_REQUEST_BYTES_LIMIT} "
                f"(1 MiB, EventBridge's limit), got {max_request_bytes}"
            )
        if linger < 0:
            raise ConfigurationError(f"linger must not be negative, got {linger}")
        if max_pending < 1:
            raise ConfigurationError(f"max_pending must be at least 1, got {max_pending}")
        self._event_bus_name = event_bus_name.strip() if event_bus_name else None
        if self._event_bus_name is not None and (problem := _bus_problem(self._event_bus_name)):
            raise ConfigurationError(f"event_bus_name {problem}")
        self._region_name = region_name
        self._endpoint_url = self._environment.endpoint_url
        self._session = session
        if self._environment.local:
            from tfso_events.publishing._local_aws import LOCAL_REGION

            self._region_name = region_name or LOCAL_REGION
        self._max_concurrency = max_concurrency
        self._max_request_bytes = max_request_bytes
        self._retry = retry
        self._shapes: dict[type[TfsoEvent], _Shape] = {}
        # One limit for everything this client sends: coalesced and publish_many calls;
        # and one adaptive send rate, which engages when EventBridge throttles.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._rate = AdaptiveRate() if retry.adaptive else None
        # One circuit: when EventBridge stops answering, one probe instead of every batch.
        self._circuit = Circuit(f"EventBridge at {endpoint_url}" if endpoint_url else "EventBridge")
        self._pending = PendingLimit(max_pending)
        # _send in a span per call when OpenTelemetry is installed (else _send itself).
        self._traced_send = telemetry.traced_send(
            self._send, telemetry.EVENTBRIDGE_SYSTEM, "PutEvents", _bus_of
        )
        self._coalescer: Coalescer[PutEventsRequestEntryTypeDef] = Coalescer(
            self._traced_send,
            max_entries=MAX_ENTRIES,
            max_bytes=_below(max_request_bytes),
            policy=retry,
            semaphore=self._slots,
            linger=linger,
            rate=self._rate,
            circuit=self._circuit,
        )
        self._client: EventBridgeClient | LeanPutEvents | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._opening = asyncio.Lock()

    # -- configuration ----------------------------------------------------------------

    @property
    def bus_environment(self) -> str:
        """``dev``, ``pre-prod``, ``prod`` or ``local``."""
        return self._environment.name

    @property
    def endpoint_url(self) -> str | None:
        """Where the client sends: the local hub's URL in ``local``, ``endpoint_url``
        when given, else ``None`` (AWS's endpoint for the region)."""
        return self._endpoint_url

    @property
    def event_bus_name(self) -> str | None:
        """The configured bus name or ARN; ``None`` means ``tfso-{module}-events``."""
        return self._event_bus_name

    @property
    def transport(self) -> str:
        """``"lean"`` or ``"botocore"``: how ``PutEvents`` calls are made."""
        return self._transport

    @property
    def max_request_bytes(self) -> int:
        """The size limit of one ``PutEvents`` call (AWS's entry-size formula)."""
        return self._max_request_bytes

    def bus_for(self, event: TfsoEvent | type[TfsoEvent]) -> str:
        """The bus an event goes to: ``event_bus_name``, else ``tfso-{module}-events``."""
        return self._event_bus_name or self._environment.bus_name(event.module)

    def _bus_hint(self) -> str:
        if self._event_bus_name:
            return f"the bus {self._event_bus_name}"
        return "the tfso-{module}-events buses"

    def __repr__(self) -> str:
        return (
            f"TfsoEventBridgeClient(bus_environment={self._environment.name!r}, "
            f"event_bus_name={self._event_bus_name!r}, region_name={self._region_name!r}, "
            f"endpoint_url={self._endpoint_url!r}, transport={self._transport!r})"
        )

    # -- publishing -------------------------------------------------------------------

    async def publish(self, event: TfsoEvent) -> PublishResult:
        """Publish one event and return its :class:`~tfso_events.PublishResult`.

        Concurrent calls share ``PutEvents`` calls (up to 10 entries each); each caller
        still gets its own result or error. Raises
        :class:`~tfso_events.EventValidationError` or
        :class:`~tfso_events.EventTooLargeError` (nothing sent),
        :class:`~tfso_events.AuthenticationError` or
        :class:`~tfso_events.ConfigurationError` (credentials, region, closed client),
        or :class:`~tfso_events.DeliveryError` (EventBridge refused the event: its
        ``code`` is the AWS error code; or retries ran out). When ``max_pending`` calls
        are pending already, it first waits for one of them to end.
        """
        self._check_open()
        since = time.monotonic()
        observed = telemetry.publication(telemetry.EVENTBRIDGE_SYSTEM, log)
        # Counted from here: aclose() must wait for a call still waiting for a place.
        self._in_flight.enter()
        try:
            await self._pending.acquire(self._retry, self._circuit, since)
            try:
                entry = self._entry(0, event, amzn_trace_id(), observed)
                outcome = await self._coalescer.submit(entry, since)
            finally:
                self._pending.release()
        finally:
            self._in_flight.leave()
        observed.finished_one(outcome)
        if isinstance(outcome, PublishFailure):
            raise delivery_error(outcome.error, code=outcome.code, attempts=outcome.attempts)
        return outcome

    async def publish_many(
        self,
        events: Iterable[TfsoEvent],
        *,
        raise_on_error: bool = True,
        on_result: OnResult | None = None,
        retry: RetryPolicy | None = None,
    ) -> BatchResult:
        """Publish many events in ``PutEvents`` calls of up to 10 entries and at most
        ``max_request_bytes``, up to ``max_concurrency`` calls at a time.

        Every event is validated and size-checked first: if any fails,
        :class:`~tfso_events.EventValidationError` (or its subclass
        :class:`~tfso_events.EventTooLargeError`) is raised with a note giving its
        position, and nothing is sent. Entries that EventBridge throttles
        (``ThrottlingException``, ``InternalFailure``) are resent with backoff, alone;
        an entry once accepted is never sent again. The
        :class:`~tfso_events.BatchResult` has one result per event, in input order, with
        its ``attempts``. When any event failed for good,
        :class:`~tfso_events.PublishError` carrying that result is raised, unless
        ``raise_on_error=False``.

        ``on_result``, when given, is called with each event's
        :class:`~tfso_events.PublishResult` or :class:`~tfso_events.PublishFailure`
        the moment it is final, in the order answers arrive (a progress bar, a
        checkpoint of what is confirmed; what it raises is logged). ``retry`` replaces
        the client's :class:`~tfso_events.RetryPolicy` for this call.
        """
        self._check_open()
        trace = amzn_trace_id()
        observed = telemetry.publication(telemetry.EVENTBRIDGE_SYSTEM, log)
        build = self._entry
        entries: list[Entry[PutEventsRequestEntryTypeDef]] = []
        for index, event in enumerate(events):
            try:
                entries.append(build(index, event, trace, observed))
            except EventValidationError as exc:
                note = f"publish_many: event #{index}; nothing was sent"
                exc.add_note(note)
                observed.abandon(exc, f"not sent: {note}")
                raise
        if not entries:
            return BatchResult.of(())
        batches = chunk(entries, max_entries=MAX_ENTRIES, max_bytes=_below(self._max_request_bytes))
        on_result = observed.watch(on_result)
        async with self._in_flight.track():
            try:
                await self._connect()
            except (AuthenticationError, ConfigurationError) as exc:
                # What stops every call fails every event with it, as it fails publish()
                # (one rule for both methods: tfso_events.errors).
                outcomes = settle_all(
                    (PublishFailure(entry.index, entry.event, exc, None, 0) for entry in entries),
                    on_result,
                )
            else:
                outcomes = await deliver(
                    batches,
                    self._traced_send,
                    policy=retry or self._retry,
                    max_concurrency=self._max_concurrency,
                    semaphore=self._slots,
                    rate=self._rate,
                    on_result=on_result,
                    circuit=self._circuit,
                )
        result = observed.finished(BatchResult.of([outcomes[i] for i in range(len(entries))]))
        return result.raise_on_failure() if raise_on_error else result

    # -- lifecycle ----------------------------------------------------------------------

    async def _flush(self) -> None:
        # aclose() (PublisherLifecycle) waits for coalesced publishes too.
        await self._coalescer.drain()

    async def _close_transport(self) -> None:
        stack, self._stack, client, self._client = self._stack, None, self._client, None
        if self._transport == "lean" and client is not None:
            await cast("LeanPutEvents", client).aclose()
            log.debug("closed the lean PutEvents transport")
        if stack is not None:
            await stack.aclose()
            log.debug("closed the EventBridge client")

    # -- entries ------------------------------------------------------------------------

    def _shape(self, event: object) -> _Shape:
        """Check an event class against the PutEvents rules once and remember it."""
        if not isinstance(event, TfsoEvent):
            raise EventValidationError(
                f"expected a TfsoEvent, got {type(event).__name__}", path="$"
            )
        cls = type(event)
        source, detail_type = cls.source, cls.detail_type
        if len(detail_type) > MAX_DETAIL_TYPE_LENGTH:
            raise EventTooLargeError(
                f"DetailType is {len(detail_type)} characters; PutEvents allows at most "
                f"{MAX_DETAIL_TYPE_LENGTH}",
                path="$.detail-type",
                detail_type=detail_type,
            )
        if source.startswith("aws."):
            raise EventTooLargeError(
                f"Source {source!r} starts with 'aws.', which EventBridge reserves for AWS "
                "services",
                path="$.source",
                detail_type=detail_type,
            )
        bus = self.bus_for(cls)
        if problem := _bus_problem(bus):
            raise ConfigurationError(f"the event bus of {detail_type} {problem}")
        size = len(source.encode()) + len(detail_type.encode())
        shape = self._shapes[cls] = _Shape(source, detail_type, bus, size)
        return shape

    def _entry(
        self,
        index: int,
        event: TfsoEvent,
        trace: str | None,
        observed: telemetry.Publication | None = None,
    ) -> Entry[PutEventsRequestEntryTypeDef]:
        """Validate ``event`` and build its PutEvents entry (the hot path)."""
        shape = self._shapes.get(type(event)) or self._shape(event)
        detail = event.detail_json()  # validates; raises EventValidationError
        # The create span, and the trace context written into detail.metadata.
        detail, span = (
            observed.create(event, detail, shape.bus)
            if observed is not None and observed.active
            else (detail, None)
        )
        payload: PutEventsRequestEntryTypeDef = {
            "Source": shape.source,
            "DetailType": shape.detail_type,
            "Detail": detail.decode(),
            "EventBusName": shape.bus,
        }
        # AWS's entry size: UTF-8 bytes of Source, DetailType, Detail and each resource
        # (and 14 for Time, which we leave to EventBridge to set).
        size = shape.size + len(detail)
        if event.resources:
            payload["Resources"] = resources = list(event.resources)
            for at, resource in enumerate(resources):
                if not isinstance(resource, str) or not _ARN.fullmatch(resource):
                    raise EventValidationError(
                        f"Resources must be ARNs (arn:partition:service:region:account:"
                        f"resource), got {resource!r}",
                        path=f"$.resources[{at}]",
                        detail_type=shape.detail_type,
                    )
                if len(resource) > MAX_RESOURCE_LENGTH:
                    raise EventValidationError(
                        f"a resource ARN is {len(resource)} characters; PutEvents allows at "
                        f"most {MAX_RESOURCE_LENGTH}",
                        path=f"$.resources[{at}]",
                        detail_type=shape.detail_type,
                    )
                size += len(resource.encode())
        if trace:
            if len(trace) > MAX_TRACE_HEADER_LENGTH:
                raise ConfigurationError(
                    f"_X_AMZN_TRACE_ID is {len(trace)} characters; PutEvents takes a "
                    f"TraceHeader of at most {MAX_TRACE_HEADER_LENGTH}"
                )
            payload["TraceHeader"] = trace
        # AWS: "the total entry size must be less than 256KB" — the limit itself is over.
        if size >= self._max_request_bytes:
            raise EventTooLargeError(
                f"too large for PutEvents: the entry is {size} bytes by AWS's entry-size "
                f"formula and must be less than {self._max_request_bytes} (max_request_bytes "
                f"is {self._max_request_bytes}); send a large payload by reference (an S3 "
                "key, say) instead",
                path="$.detail",
                detail_type=shape.detail_type,
            )
        return Entry(index, event, payload, size, span=span)

    # -- the transport --------------------------------------------------------------------

    async def _client_now(self) -> EventBridgeClient | LeanPutEvents:
        client = self._client
        loop = asyncio.get_running_loop()
        if client is not None and loop is self._loop:
            return client
        if self._closed:
            raise ConfigurationError("this TfsoEventBridgeClient client is closed")
        self._bind_loop()
        async with self._opening:
            if self._client is None:
                self._client = await self._open()
            return self._client

    async def _open_transport(self) -> None:
        # open(): import aioboto3, read botocore's model and build the AWS client now.
        await self._connect()

    async def _connect(self) -> None:
        """Open the AWS client now, so that what stops every call (no region, no
        credentials, a broken profile) is raised to the caller as the
        :class:`~tfso_events.ConfigurationError` it is, not as one failure per event."""
        try:
            await self._client_now()
        except TfsoEventsError:
            raise
        except Exception as exc:
            raise _call_error(exc, self) from None

    async def _open(self) -> EventBridgeClient | LeanPutEvents:
        if self._transport == "lean":
            from tfso_events.publishing._lean import LeanPutEvents

            return await LeanPutEvents.open(
                session=self._session,
                region_name=self._region_name,
                endpoint_url=self._endpoint_url,
                pool=max(self._max_concurrency, 10),
                user_agent=_lean_user_agent(),
                local=self._environment.local,
            )
        return await self._open_botocore()

    async def _open_botocore(self) -> EventBridgeClient:
        # Importing aioboto3 and reading botocore's EventBridge model from disk block for
        # a tenth of a second or more: done in a thread, so the first publish does not
        # stall every other task on the loop.
        local = self._environment.local and self._session is None
        session = await in_a_thread(
            lambda: _prepare_session(self._session, local=local, region=self._region_name),
            name="tfso-events-botocore-load",
        )
        from aiobotocore.config import AioConfig

        config = AioConfig(
            retries={"mode": "standard"},
            max_pool_connections=max(self._max_concurrency, 10),
            # Entries are built and checked here; botocore's second check of every
            # parameter costs CPU on each call and finds nothing.
            parameter_validation=False,
            # botocore rebuilds its default User-Agent twice per call (~14% of the CPU
            # of a PutEvents call); a fixed one costs nothing and names this library in
            # CloudTrail.
            user_agent=_user_agent(),
        )
        stack = contextlib.AsyncExitStack()
        try:
            # The one way the package creates a botocore client: redacted logs included.
            client: EventBridgeClient
            client, credentials = await open_client(
                stack,
                session,
                "events",
                region_name=self._region_name,
                endpoint_url=self._endpoint_url,
                config=config,
            )
            # The client resolved credentials when it was created (the AWS credential
            # chain); without any, every call would fail signing: say so now.
            if credentials is None:
                raise ConfigurationError(f"no AWS credentials found; {CREDENTIALS_HINT}")
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        log.debug(
            "opened an EventBridge client (region %s, endpoint %s)",
            client.meta.region_name,
            client.meta.endpoint_url,
        )
        return client

    async def _send(
        self, entries: Sequence[Entry[PutEventsRequestEntryTypeDef]]
    ) -> Sequence[Outcome]:
        if self._transport == "lean":
            return await self._send_lean(entries)
        try:
            client = cast("EventBridgeClient", await self._client_now())
            response = await client.put_events(Entries=[entry.payload for entry in entries])
        except TfsoEventsError:
            raise
        except Exception as exc:
            error = _call_error(exc, self)
            if isinstance(error, RetryableCallError):
                raise error from None  # deliver() retries it, and logs it at DEBUG
            code = getattr(error, "code", None) or type(exc).__name__
            return [Rejected(error, code)] * len(entries)
        return _outcomes(
            entries,
            [
                (answer.get("EventId"), answer.get("ErrorCode"), answer.get("ErrorMessage"))
                for answer in response.get("Entries", [])
            ],
        )

    async def _send_lean(
        self, entries: Sequence[Entry[PutEventsRequestEntryTypeDef]]
    ) -> Sequence[Outcome]:
        try:
            client = cast("LeanPutEvents", await self._client_now())
        except TfsoEventsError:
            raise
        except Exception as exc:
            raise _call_error(exc, self) from None
        answer = await client.put_events([entry.payload for entry in entries])
        if answer.entries is None:
            error = _answer_error(answer.code, answer.message, answer.status, self)
            if isinstance(error, RetryableCallError):
                raise error  # deliver() retries it, and logs it at DEBUG
            return [Rejected(error, getattr(error, "code", None) or answer.code)] * len(entries)
        answers = answer.entries
        if len(answers) != len(entries):
            return _unmatched(len(answers), len(entries))
        # The hot path: an accepted entry's outcome is its event id, read straight off the
        # decoded answer (no intermediate object per entry).
        return [
            a.event_id or _entry_outcome(entry, a.error_code, a.error_message)
            for entry, a in zip(entries, answers, strict=True)
        ]


def _outcomes(
    entries: Sequence[Entry[PutEventsRequestEntryTypeDef]],
    answers: Sequence[tuple[str | None, str | None, str | None]],
) -> Sequence[Outcome]:
    """Each entry's outcome from the ``(EventId, ErrorCode, ErrorMessage)`` of the
    answer's ``Entries``, which EventBridge gives in the order of the request."""
    if len(answers) != len(entries):
        return _unmatched(len(answers), len(entries))
    return [
        event_id if event_id else _entry_outcome(entry, code, message)
        for entry, (event_id, code, message) in zip(entries, answers, strict=True)
    ]


def _unmatched(answered: int, sent: int) -> Sequence[Outcome]:
    """The outcomes of a call whose answer does not list one result per entry:
    EventBridge answers every entry in order; anything else cannot be mapped back, and
    resending could duplicate the accepted ones: report, don't retry."""
    error = DeliveryError(
        f"PutEvents answered {answered} results for {sent} entries", code="MalformedResponse"
    )
    return [Rejected(error, "MalformedResponse")] * sent


def _prepare_session(
    session: aioboto3.Session | None, *, local: bool = False, region: str | None = None
) -> aioboto3.Session:
    """Import aioboto3, make the session (``local``: one with dummy credentials, blind
    to the AWS configuration), and load into its botocore loader's cache what creating
    an ``events`` client reads from disk (the service model, the endpoint rule set,
    partitions, endpoints, retry and default configuration). Blocking: run in a
    thread."""
    import aioboto3
    from botocore.exceptions import DataNotFoundError

    if session is None and local:
        from tfso_events.publishing._local_aws import local_aws_session

        session = local_aws_session(region) if region else local_aws_session()
    session = session or aioboto3.Session()
    core: Any = getattr(session, "_session", None)  # aioboto3 keeps its AioSession here
    loader: Any = core.get_component("data_loader") if core is not None else None
    if loader is None:
        return session
    # The same arguments as botocore's ClientCreator uses: they are the cache keys.
    for type_name in ("service-2", "endpoint-rule-set-1"):
        with contextlib.suppress(DataNotFoundError):
            loader.load_service_model("events", type_name, api_version=None)
    for name in ("partitions", "_retry", "sdk-default-configuration"):
        with contextlib.suppress(DataNotFoundError):
            loader.load_data(name)
    with contextlib.suppress(DataNotFoundError):
        loader.load_data_with_path("endpoints")  # the session's endpoint resolver reads it
    return session


def _user_agent() -> str:
    import platform

    import aiobotocore
    import botocore

    from tfso_events._version import __version__

    return (
        f"tfso-events/{__version__} aiobotocore/{aiobotocore.__version__} "
        f"botocore/{botocore.__version__} Python/{platform.python_version()}"
    )


def _lean_user_agent() -> str:
    import platform

    from tfso_events._version import __version__

    return f"tfso-events/{__version__} (lean SigV4) Python/{platform.python_version()}"


def _entry_outcome(
    entry: Entry[PutEventsRequestEntryTypeDef], code: str | None, message: str | None
) -> Outcome:
    """One failed entry's result of a ``PutEvents`` call."""
    code = code or "UnknownError"
    message = message or "no message"
    if code in _RETRYABLE_ENTRY_CODES:
        return Retry(code, message, throttled=code == "ThrottlingException")
    detail_type = entry.event.detail_type
    bus = entry.payload.get("EventBusName", "default")
    hint = ""
    if code == "AccessDeniedException":
        hint = f"; the credentials need events:PutEvents on the bus {bus}"
    error = DeliveryError(
        f"EventBridge refused {detail_type} for bus {bus} ({code}): {message}{hint}",
        code=code,
        attempts=entry.attempts,
    )
    return Rejected(error, code)


def _call_error(exc: Exception, client: TfsoEventBridgeClient) -> TfsoEventsError:
    """Translate an error of a whole ``PutEvents`` call (or of opening the AWS client):
    the one place botocore's exceptions are read.

    :class:`RetryableCallError` for throttling, 5xx and connection errors;
    :class:`AuthenticationError` / :class:`ConfigurationError` for credentials, region
    and permissions, saying how to fix it; :class:`DeliveryError` for the rest. Messages
    are botocore's, which name endpoints and codes but never credentials.
    """
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "UnknownError")
        message = str(error.get("Message") or exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return _answer_error(code, message, status, client)
    if isinstance(exc, bx.NoRegionError):
        return ConfigurationError(
            # botocore reads AWS_DEFAULT_REGION; AWS_REGION alone is not enough for it.
            "no AWS region configured: pass region_name= or set AWS_DEFAULT_REGION (or a "
            "region in the AWS profile)"
        )
    if isinstance(
        exc,
        bx.NoCredentialsError
        | bx.PartialCredentialsError
        | bx.CredentialRetrievalError
        | bx.NoAuthTokenError
        | bx.TokenRetrievalError,
    ):
        return ConfigurationError(f"no usable AWS credentials ({exc}); {CREDENTIALS_HINT}")
    if isinstance(exc, bx.ProfileNotFound | bx.ConfigParseError | bx.InvalidRegionError):
        return ConfigurationError(f"the AWS configuration is not usable: {exc}")
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        return RetryableCallError(UNANSWERED, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, bx.BotoCoreError):
        return DeliveryError(f"PutEvents failed: {exc}", code=type(exc).__name__)
    raise exc


def _bus_of(entry: Entry[PutEventsRequestEntryTypeDef]) -> str:
    return entry.payload.get("EventBusName", "default")


def _answer_error(
    code: str, message: str, status: int, client: TfsoEventBridgeClient
) -> TfsoEventsError:
    """What an error answer of EventBridge means (both transports read answers into
    botocore's code, message and status first)."""
    code = code or "UnknownError"
    message = message or "no message"
    if code in _THROTTLED_CALL_CODES or status == 429 or status >= 500:
        throttled = code in _THROTTLING_CODES or status == 429
        return RetryableCallError(code, message, throttled=throttled)
    if code in _AUTH_CALL_CODES or status in (401, 403):
        return AuthenticationError(
            f"EventBridge refused the credentials ({code}: {message}); check that the "
            "process runs with the intended AWS credentials and that its role may call "
            f"events:PutEvents on {client._bus_hint()}"
        )
    if code == "ResourceNotFoundException":
        return DeliveryError(
            f"{message} ({code}); check event_bus_name and region: the bus must exist "
            f"in the client's region ({client._bus_hint()})",
            code=code,
        )
    return DeliveryError(f"EventBridge refused the call ({code}): {message}", code=code)


def _below(limit: int) -> int:
    """The most bytes a call may carry: AWS's sizes must be *less than* the limit."""
    return max(1, limit - 1)


def _bus_problem(bus: str) -> str | None:
    """Why PutEvents would refuse ``bus`` as ``EventBusName`` (botocore's model), or None."""
    if len(bus) > MAX_BUS_NAME_LENGTH:
        return f"is {len(bus)} characters; PutEvents allows at most {MAX_BUS_NAME_LENGTH}"
    if not _BUS_NAME.fullmatch(bus):
        return (
            f"{bus!r} is neither a bus name (letters, digits, '.', '-', '_') nor an "
            "event-bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)"
        )
    return None
