"""``EventRouter``: typed handlers for the events a Lambda function receives.

One processor for every topology: the Lambda event is read (``_records``), each record's
envelope decoded with :func:`~tfso_events.parse_event`, routed on its class, optionally
deduplicated, and handled. SQS batches answer with a partial batch response; direct
EventBridge and SNS invocations raise, so Lambda's own retries and DLQ apply.
"""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, overload

import tfso_events.telemetry as telemetry
from tfso_events._clip import clip
from tfso_events.catalog import parse_event
from tfso_events.consume._records import Delivery, Via, decode_sqs_body, read_lambda_event
from tfso_events.consume.dedupe import Claim, DedupeStore, MemoryDedupeStore
from tfso_events.errors import (
    DedupeKeyHeldError,
    EventValidationError,
    UnhandledEventError,
    UnknownEventTypeError,
)
from tfso_events.models._base import TfsoEvent, UnknownEvent

if TYPE_CHECKING:
    # asyncio (which imports ssl) and inspect are imported where they are needed: a
    # router of sync handlers never loads asyncio, and `import` stays cheap.
    import asyncio

__all__ = ["BatchResponse", "EventRouter", "LambdaHandler", "RecordContext"]

logger = logging.getLogger("tfso_events.consume")

F = TypeVar("F", bound=Callable[..., Any])
_Err = TypeVar("_Err", bound=Exception)

#: What an SQS invocation returns: ``{"batchItemFailures": [{"itemIdentifier": id}]}``.
BatchResponse = dict[str, list[dict[str, str]]]

#: The dedupe window: EventBridge retries a target for up to 24 hours.
DEFAULT_DEDUPE_TTL = 24 * 3600.0
#: How long a claimed key is held while its handler runs, when the Lambda context does
#: not say how much time is left: Lambda's longest timeout.
DEFAULT_LEASE = 900.0
DEFAULT_MAX_CONCURRENCY = 10


class RecordContext:
    """Where an event came from; a handler with a second parameter receives it.

    * ``via`` — what invoked the function: ``"eventbridge"``, ``"sqs"`` or ``"sns"``;
    * ``message_id`` — the SQS ``messageId``, the SNS ``MessageId`` or the envelope
      ``id`` (EventBridge);
    * ``receive_count`` — SQS's ``ApproximateReceiveCount`` (``None`` elsewhere: Lambda
      does not tell a direct invocation's attempt);
    * ``source_arn`` — the queue (``eventSourceARN``) or SNS subscription ARN;
    * ``raw`` — the raw record (for EventBridge, the whole envelope);
    * ``lambda_context`` — the context object Lambda passed to the function.

    The fields are read from ``raw`` when asked for, so a context costs nothing unused.
    """

    __slots__ = ("lambda_context", "raw", "via")

    def __init__(self, via: Via, raw: Mapping[str, Any], lambda_context: Any = None) -> None:
        self.via: Via = via
        self.raw = raw
        self.lambda_context = lambda_context

    def __repr__(self) -> str:
        return (
            f"RecordContext(via={self.via!r}, message_id={self.message_id!r}, "
            f"receive_count={self.receive_count!r})"
        )

    @property
    def message_id(self) -> str | None:
        """The SQS ``messageId``, SNS ``MessageId`` or EventBridge envelope ``id``."""
        return _message_id(self.via, self.raw)

    @property
    def receive_count(self) -> int | None:
        """SQS's ``ApproximateReceiveCount``; ``None`` for EventBridge and SNS."""
        if self.via != "sqs":
            return None
        attributes = self.raw.get("attributes")
        if not isinstance(attributes, Mapping):
            return None
        try:
            return int(attributes["ApproximateReceiveCount"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def source_arn(self) -> str | None:
        """The queue ARN (SQS ``eventSourceARN``) or SNS ``EventSubscriptionArn``."""
        if self.via == "sqs":
            return _str_or_none(self.raw.get("eventSourceARN"))
        if self.via == "sns":
            return _str_or_none(self.raw.get("EventSubscriptionArn"))
        return None


class _Route:
    __slots__ = ("fn", "is_async", "isawaitable", "wants_context")

    def __init__(self, fn: Callable[..., Any]) -> None:
        import inspect

        self.fn = fn
        self.isawaitable = inspect.isawaitable
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
        )
        self.wants_context = _takes_two(fn)


def _takes_two(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: the event only
        return False
    positional = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


_EVENT_BASES = (TfsoEvent, UnknownEvent)

E = TypeVar("E", bound=TfsoEvent | UnknownEvent)
E1 = TypeVar("E1", bound=TfsoEvent | UnknownEvent)
E2 = TypeVar("E2", bound=TfsoEvent | UnknownEvent)
E3 = TypeVar("E3", bound=TfsoEvent | UnknownEvent)
E4 = TypeVar("E4", bound=TfsoEvent | UnknownEvent)
R = TypeVar("R")


class Registration(Protocol[E]):
    """What ``router.on(*classes)`` returns: a decorator that takes a handler of those
    classes, ``(event)`` or ``(event, record: RecordContext)``, sync or ``async def``,
    and returns it unchanged. A type checker rejects a handler of another event type."""

    @overload
    def __call__(self, fn: Callable[[E], R], /) -> Callable[[E], R]: ...
    @overload
    def __call__(
        self, fn: Callable[[E, RecordContext], R], /
    ) -> Callable[[E, RecordContext], R]: ...


def _check_annotation(fn: Callable[..., Any], classes: Sequence[type[Any]]) -> None:
    """Raise ``TypeError`` when ``fn``'s first parameter is annotated with event
    classes that do not include each of ``classes``. An annotation that cannot be read
    at run time (a name imported only for the type checker) or that is not made of
    classes (``Any``, a protocol, a type variable) is left to the type checker."""
    import inspect

    try:
        parameters = inspect.signature(fn, eval_str=True).parameters.values()
    except Exception:  # no signature, or an annotation naming what exists only for mypy
        return
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    first = next((p for p in parameters if p.kind in kinds), None)
    if first is None or first.annotation is inspect.Parameter.empty:
        return
    accepted = _classes_in(first.annotation)
    if accepted is None:
        return
    try:
        refused = [cls for cls in classes if not issubclass(cls, accepted)]
    except TypeError:  # a runtime protocol or similar: issubclass cannot tell
        return
    if refused:
        name = getattr(fn, "__qualname__", repr(fn))
        takes = " | ".join(cls.__name__ for cls in accepted)
        raise TypeError(
            f"handler {name} takes {takes} (its first parameter's annotation) but is "
            f"registered for {', '.join(cls.__name__ for cls in refused)}: annotate it "
            "with the class it is registered for, or register it for the class it takes"
        )


def _classes_in(annotation: object) -> tuple[type[Any], ...] | None:
    """The classes an annotation accepts (``A``, ``A | B``, ``Optional[A]``,
    ``Annotated[A, ...]``), or ``None`` when it is not made of plain classes."""
    if annotation is typing.Any:  # a class itself since Python 3.11, but takes anything
        return None
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _classes_in(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found: list[type[Any]] = []
        for member in typing.get_args(annotation):
            classes = _classes_in(member)
            if classes is None:
                return None
            found.extend(classes)
        return tuple(found)
    if isinstance(annotation, type) and origin is None:
        return (annotation,)
    return None


_MISSING: Any = object()


class EventRouter:
    """Route the events a Lambda function receives to typed handlers.

    ::

        router = EventRouter()

        @router.on(BankTransactionCreatedV1Event)
        def created(event: BankTransactionCreatedV1Event) -> None:
            book(event.detail.content.transaction_id)

        @router.on(BankTransactionDeletedV1Event, BankTransactionStatusChangedV1Event)
        async def changed(event, record: RecordContext) -> None:  # async and with context
            ...

        lambda_handler = router.lambda_handler          # or router.handler(dedupe=...)

    Handlers are found by the event's class (a handler for :class:`TfsoEvent` takes every
    known event no other handler takes). Events no handler takes, and detail-types this
    version does not know (:class:`UnknownEvent`, see :meth:`on_unknown`), are skipped
    with a debug log; with ``strict=True`` they fail (:class:`UnhandledEventError`,
    :class:`UnknownEventTypeError`) and are retried, then dead-lettered.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._routes: dict[type[Any], _Route] = {}
        self._cache: dict[type[Any], _Route | None] = {}
        self._has_async = False
        self._default: LambdaHandler | None = None

    def __repr__(self) -> str:
        names = ", ".join(cls.__name__ for cls in self._routes)
        return f"EventRouter(strict={self.strict}, handlers=[{names}])"

    @property
    def has_async_handlers(self) -> bool:
        """Whether any registered handler is a coroutine function (it needs a loop)."""
        return self._has_async

    @overload
    def on(self, event_class: type[E1], /) -> Registration[E1]: ...
    @overload
    def on(self, c1: type[E1], c2: type[E2], /) -> Registration[E1 | E2]: ...
    @overload
    def on(self, c1: type[E1], c2: type[E2], c3: type[E3], /) -> Registration[E1 | E2 | E3]: ...
    @overload
    def on(
        self, c1: type[E1], c2: type[E2], c3: type[E3], c4: type[E4], /
    ) -> Registration[E1 | E2 | E3 | E4]: ...
    @overload
    def on(self, *event_classes: type[TfsoEvent]) -> Registration[TfsoEvent]: ...
    @overload
    def on(
        self, *event_classes: type[TfsoEvent] | type[UnknownEvent]
    ) -> Registration[TfsoEvent | UnknownEvent]: ...

    def on(self, *event_classes: type[Any]) -> Registration[Any]:
        """Register the decorated function (sync or ``async def``) for ``event_classes``.

        The handler is called with the typed event, and with a :class:`RecordContext` as
        well when it takes a second positional parameter. Its return value is ignored;
        raising marks the record failed. Each class has at most one handler.

        The handler must take every class it is registered for: mypy and pyright reject
        ``@router.on(BankTransactionCreatedV1Event)`` on a function of a
        ``BankTransactionDeletedV1Event`` (up to four classes are checked statically;
        more must be taken by a handler of ``TfsoEvent``), and when the handler's first
        parameter is annotated with event classes, registration checks them too and
        raises ``TypeError`` naming the classes it does not take.
        """
        if not event_classes:
            raise TypeError("on() needs at least one event class")
        for cls in event_classes:
            if not (isinstance(cls, type) and issubclass(cls, _EVENT_BASES)):
                raise TypeError(
                    f"on() takes event classes (TfsoEvent subclasses or UnknownEvent), got {cls!r}"
                )
            if cls in self._routes:
                raise ValueError(f"{cls.__name__} already has a handler")

        def register(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"a handler must be callable, got {fn!r}")
            _check_annotation(fn, event_classes)
            route = _Route(fn)
            for cls in event_classes:
                if cls in self._routes:
                    raise ValueError(f"{cls.__name__} already has a handler")
                self._routes[cls] = route
            self._has_async = self._has_async or route.is_async
            self._cache.clear()
            return fn

        return cast("Registration[Any]", register)

    @overload
    def on_unknown(self, fn: Callable[[UnknownEvent], R], /) -> Callable[[UnknownEvent], R]: ...
    @overload
    def on_unknown(
        self, fn: Callable[[UnknownEvent, RecordContext], R], /
    ) -> Callable[[UnknownEvent, RecordContext], R]: ...

    def on_unknown(self, fn: Callable[..., Any], /) -> Callable[..., Any]:
        """Register the handler of detail-types this version does not know: it receives
        an :class:`UnknownEvent` (``detail_type``, ``source``, ``detail`` as a dict)."""
        return self.on(UnknownEvent)(fn)

    def route(self, event_cls: type[Any]) -> Callable[..., Any] | None:
        """The handler that takes events of ``event_cls``, or ``None``."""
        route = self._lookup(event_cls)
        return route.fn if route is not None else None

    def _lookup(self, event_cls: type[Any]) -> _Route | None:
        try:
            return self._cache[event_cls]
        except KeyError:
            pass
        found = None
        for base in event_cls.__mro__:
            found = self._routes.get(base)
            if found is not None:
                break
        self._cache[event_cls] = found
        return found

    def handler(
        self,
        *,
        dedupe: DedupeStore | None = None,
        key: Callable[[Any], object] | None = None,
        ttl: float = DEFAULT_DEDUPE_TTL,
        lease: float | None = None,
        visibility_timeout: float | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> LambdaHandler:
        """A Lambda handler over this router, with options:

        * ``dedupe`` — a :class:`~tfso_events.consume.DedupeStore`: an event whose key was
          handled within ``ttl`` seconds (default 24 h) is skipped; one whose key another
          invocation holds (still running, lease not ended) fails its record, so it is
          delivered again (:class:`~tfso_events.DedupeKeyHeldError`);
        * ``key`` — the dedupe key of an event (default its envelope ``id``); a business
          key catches producer resends: ``key=lambda e: e.detail.content.transaction_id``.
          Returning ``None`` handles the event without dedupe. Keys are prefixed with the
          detail-type, so one business key serves several event types;
        * ``lease`` — how long a key stays claimed while its handler runs (default the
          Lambda's remaining time, else 15 minutes); a dead holder's key is free after it;
        * ``visibility_timeout`` — the SQS queue's visibility timeout, if you want the
          router to warn at start-up where it contradicts the lease or the function's
          timeout (see docs/consuming.md, "Sizing the lease");
        * ``max_concurrency`` — how many records of an SQS batch async handlers work on at
          once (default 10; FIFO queues always go one by one, in order).
        """
        return LambdaHandler(
            self,
            dedupe=dedupe,
            key=key,
            ttl=ttl,
            lease=lease,
            visibility_timeout=visibility_timeout,
            max_concurrency=max_concurrency,
        )

    def lambda_handler(self, event: object, context: object = None) -> BatchResponse | None:
        """The Lambda entry point with default options (``router.handler()``): for SQS it
        returns the partial batch response; for EventBridge and SNS ``None``, or raises."""
        default = self._default
        if default is None:
            default = self._default = self.handler()
        return default(event, context)

    async def process(self, event: object, context: object = None) -> BatchResponse | None:
        """:meth:`lambda_handler` for code already running in an event loop."""
        default = self._default
        if default is None:
            default = self._default = self.handler()
        return await default.process(event, context)


class LambdaHandler:
    """A Lambda entry point (``handler(event, context)``) made by
    :meth:`EventRouter.handler`.

    Sync handlers without a store (or with a :class:`MemoryDedupeStore`) run without an
    event loop. Async handlers and other stores run on one private loop kept for the
    handler's life, so clients opened on it (the DynamoDB store's) are reused across warm
    invocations; ``close()`` closes it. In code that already runs a loop, ``await
    handler.process(event, context)`` instead.
    """

    def __init__(
        self,
        router: EventRouter,
        *,
        dedupe: DedupeStore | None,
        key: Callable[[Any], object] | None,
        ttl: float,
        lease: float | None,
        max_concurrency: int,
        visibility_timeout: float | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if ttl <= 0 or (lease is not None and lease <= 0):
            raise ValueError("ttl and lease must be positive")
        if visibility_timeout is not None and visibility_timeout <= 0:
            raise ValueError("visibility_timeout must be positive")
        if dedupe is not None and not isinstance(dedupe, DedupeStore):
            raise TypeError(f"dedupe must be a DedupeStore, got {type(dedupe).__name__}")
        self.router = router
        self.dedupe = dedupe
        self.key = key
        self.ttl = ttl
        self.lease = lease
        self.visibility_timeout = visibility_timeout
        self.max_concurrency = max_concurrency
        self._loop: asyncio.AbstractEventLoop | None = None
        # The function's timeout is seen only at the first invocation (its remaining time).
        self._checked = dedupe is None
        if dedupe is not None:
            _check_timeouts(lease, visibility_timeout, None)

    def __repr__(self) -> str:
        return (
            f"LambdaHandler({self.router!r}, dedupe={self.dedupe!r}, "
            f"max_concurrency={self.max_concurrency})"
        )

    def _needs_loop(self) -> bool:
        store = self.dedupe
        return self.router.has_async_handlers or (
            store is not None and type(store) is not MemoryDedupeStore
        )

    def __call__(self, event: object, context: object = None) -> BatchResponse | None:
        """Handle one Lambda invocation (see :meth:`process`)."""
        if self._sync_only():
            return self._process_sync(read_lambda_event(event), context)
        if not self._needs_loop():  # sync handlers with a memory store: no loop either
            return _drive(self.process(event, context))
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "this router has async handlers or an async dedupe store and is called "
                "from a running event loop: use `await handler.process(event, context)`"
            )
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.new_event_loop()
        return loop.run_until_complete(self.process(event, context))

    def close(self) -> None:
        """Close the private event loop (after the dedupe store's client, if it has an
        ``aclose()`` and was used on that loop). The handler may be used again."""
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        try:
            aclose = getattr(self.dedupe, "aclose", None)
            if aclose is not None:
                loop.run_until_complete(aclose())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    async def process(self, event: object, context: object = None) -> BatchResponse | None:
        """Handle one Lambda invocation.

        SQS: returns ``{"batchItemFailures": [...]}`` naming every record whose payload
        is invalid or whose handler raised (FIFO: the first failure and every later
        record). EventBridge / SNS: returns ``None``, or raises the first failure
        (:class:`EventValidationError` for an invalid envelope, whatever the handler
        raised). Anything else raises :class:`LambdaEventError`.
        """
        # Always the coroutine path here: a sync handler may return an awaitable, which
        # only a coroutine can await on the caller's running loop.
        delivery = read_lambda_event(event)
        with telemetry.processing_batch(delivery.via, delivery.records):
            return await self._records(delivery, context)

    async def _records(self, delivery: Delivery, context: object) -> BatchResponse | None:
        records = delivery.records
        if delivery.via != "sqs":
            for index, record in enumerate(records):
                failure = await self._one(delivery.via, index, record, context)
                if failure is not None:
                    raise failure
            return None
        failures: list[dict[str, str]] = []
        if delivery.fifo:
            for index, record in enumerate(records):
                if await self._one("sqs", index, record, context) is not None:
                    return _fifo_failures(records, index)
            return {"batchItemFailures": failures}
        if self.max_concurrency == 1 or len(records) == 1 or not self.router.has_async_handlers:
            outcomes = [await self._one("sqs", i, r, context) for i, r in enumerate(records)]
        else:
            outcomes = await self._concurrently(records, context)
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome is not None:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def _process_sync(self, delivery: Delivery, context: object) -> BatchResponse | None:
        """:meth:`process` for sync handlers without a store: no coroutine at all."""
        with telemetry.processing_batch(delivery.via, delivery.records):
            return self._records_sync(delivery, context)

    def _records_sync(self, delivery: Delivery, context: object) -> BatchResponse | None:
        records = delivery.records
        one = self._one_sync
        if delivery.via != "sqs":
            for index, record in enumerate(records):
                failure = one(delivery.via, index, record, context)
                if failure is not None:
                    raise failure
            return None
        failures: list[dict[str, str]] = []
        if delivery.fifo:
            for index, record in enumerate(records):
                if one("sqs", index, record, context) is not None:
                    return _fifo_failures(records, index)
            return {"batchItemFailures": failures}
        for index, record in enumerate(records):
            if one("sqs", index, record, context) is not None:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    async def _concurrently(self, records: Any, context: object) -> list[BaseException | None]:
        import asyncio

        slots = asyncio.Semaphore(self.max_concurrency)

        async def one(index: int, record: Mapping[str, Any]) -> BaseException | None:
            async with slots:
                return await self._one("sqs", index, record, context)

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(i, r)) for i, r in enumerate(records)]
        return [task.result() for task in tasks]

    # -- one record ----------------------------------------------------------------

    def _sync_only(self) -> bool:
        return self.dedupe is None and not self.router.has_async_handlers

    def _start(
        self, via: Via, index: int, record: Mapping[str, Any]
    ) -> tuple[TfsoEvent | UnknownEvent, _Route] | BaseException | None:
        """Decode and route one record: the event and its route, or the record's outcome
        (a failure, or ``None`` for a skipped event)."""
        try:
            event = _decode(via, index, record)
        except EventValidationError as exc:
            _log_invalid(via, index, record, exc)
            telemetry.unreadable(via, record, exc)
            return exc
        route = self.router._lookup(type(event))
        if route is None:
            return self._unhandled(via, index, record, event)
        return event, route

    def _one_sync(
        self, via: Via, index: int, record: Mapping[str, Any], context: object
    ) -> BaseException | None:
        """:meth:`_one` for sync handlers without a dedupe store: no coroutine, and the
        common case (an SQS body that is an envelope) inlined, as this runs per record."""
        try:
            body = record.get("body") if via == "sqs" else None
            if type(body) is str:
                try:
                    event: TfsoEvent | UnknownEvent = parse_event(body)
                except EventValidationError:  # an SNS notification, or truly invalid
                    event = decode_sqs_body(body, index)
            else:
                event = _decode(via, index, record)
        except EventValidationError as exc:
            _log_invalid(via, index, record, exc)
            telemetry.unreadable(via, record, exc)
            return exc
        router = self.router
        route: _Route | None = router._cache.get(type(event), _MISSING)
        if route is _MISSING:
            route = router._lookup(type(event))
        if route is None:
            return self._unhandled(via, index, record, event)
        # The record's process span, in the producer's trace, current while it is handled.
        observed = telemetry.processing(via, record, event) if telemetry.observing else None
        try:
            if route.wants_context:
                result = route.fn(event, RecordContext(via, record, context))
            else:
                result = route.fn(event)
            # A plain function may return an awaitable (an async handler behind a
            # decorator, `lambda e: handle(e)`): its work is not done until awaited.
            if result is not None and route.isawaitable(result):
                self._block_on(result)
        except Exception as exc:
            _log_handler_failure(via, index, record, event, exc)
            if observed is not None:
                observed.end(exc)
            return exc
        if observed is not None:
            observed.end()
        return None

    async def _one(
        self, via: Via, index: int, record: Mapping[str, Any], context: object
    ) -> BaseException | None:
        """Decode, route, dedupe and handle one record; return its failure or ``None``."""
        started = self._start(via, index, record)
        if type(started) is not tuple:
            return started  # type: ignore[return-value]
        event, route = started
        # The record's process span, in the producer's trace, current while it is handled.
        observed = telemetry.processing(via, record, event) if telemetry.observing else None
        key: str | None = None
        token: str | None = None
        lease = 0.0
        store = self.dedupe
        if store is not None:
            try:
                key = self._key_of(event)
                if key is not None:
                    lease = self._lease(context)
                    claim = await store.claim(key, lease=lease)
                    if not isinstance(claim, Claim):
                        raise TypeError(
                            f"{type(store).__name__}.claim() returned {claim!r}, not a Claim: "
                            "a DedupeStore answers claimed (with a token), held or done "
                            "(see tfso_events.consume.dedupe)"
                        )
                    if claim.state == "done":  # handled before: the only skip
                        if logger.isEnabledFor(logging.DEBUG):
                            logger.debug(
                                "%s: skipped %s %s, a duplicate (key %s)",
                                _where(via, index, record),
                                clip(event.detail_type),
                                clip(event.id),
                                clip(key),
                                extra=_extra(via, record, event.detail_type),
                            )
                        if observed is not None:
                            observed.end(outcome="duplicate")
                        return None
                    if claim.state != "claimed" or claim.token is None:
                        held = _held(via, index, record, event, key)
                        if observed is not None:
                            observed.end(held)
                        return held
                    token = claim.token
            except Exception as exc:
                logger.error(
                    "%s: the dedupe key of %s %s could not be claimed: %s",
                    _where(via, index, record),
                    clip(event.detail_type),
                    clip(event.id),
                    clip(repr(exc)),
                    extra=_extra(via, record, event.detail_type),
                )
                if observed is not None:
                    observed.end(exc)
                return exc
        try:
            if route.wants_context:
                result = route.fn(event, RecordContext(via, record, context))
            else:
                result = route.fn(event)
            if route.is_async:
                await result
            elif result is not None and route.isawaitable(result):
                if _running_loop() is None:  # driven without a loop (see _drive)
                    self._block_on(result)
                else:
                    await result
        except BaseException as exc:
            if observed is not None:
                observed.end(exc)
            # Any way out but success frees the key, so the retry runs: an error, and
            # cancellation, KeyboardInterrupt or SystemExit too (then it propagates).
            if token is not None:
                await self._release(store, key, token)  # type: ignore[arg-type]
            if not isinstance(exc, Exception):
                raise
            _log_handler_failure(via, index, record, event, exc)
            return exc
        if token is not None:
            try:
                completed = await store.complete(key, token, ttl=self.ttl)  # type: ignore[arg-type, union-attr]
            except Exception as exc:  # handled all the same; the lease still holds the key
                logger.warning(
                    "dedupe key %s could not be completed: %s", clip(key), clip(repr(exc))
                )
            else:
                if not completed:
                    logger.warning(
                        "%s: the claim on dedupe key %s lapsed before its handler finished "
                        "(the lease, %s s, is shorter than the handler took): another "
                        "invocation may have run it too. Size the lease to the function's "
                        "timeout (see docs/consuming.md)",
                        _where(via, index, record),
                        clip(key),
                        lease,
                        extra=_extra(via, record, event.detail_type),
                    )
        if observed is not None:
            observed.end()
        return None

    def _block_on(self, awaitable: Any) -> None:
        """Run what a plain function returned to completion, outside any running loop,
        on the handler's private loop (an error is the handler's)."""
        import asyncio
        import inspect

        if _running_loop() is not None:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise RuntimeError(
                "the handler returned an awaitable and the router was called from a "
                "running event loop: use `await handler.process(event, context)`"
            )
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.new_event_loop()
        loop.run_until_complete(_awaited(awaitable))

    def _unhandled(
        self, via: Via, index: int, record: Mapping[str, Any], event: TfsoEvent | UnknownEvent
    ) -> BaseException | None:
        if not self.router.strict:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s: skipped %s %s, no handler takes it",
                    _where(via, index, record),
                    clip(event.detail_type),
                    clip(event.id),
                    extra=_extra(via, record, event.detail_type),
                )
            return None
        error: BaseException
        if isinstance(event, UnknownEvent):
            error = UnknownEventTypeError(
                f"unknown detail-type {event.detail_type!r} and no on_unknown handler "
                "(the router is strict)",
                path="$.detail-type",
                detail_type=event.detail_type,
            )
        else:
            error = UnhandledEventError(
                f"no handler takes {event.detail_type} (the router is strict); register one "
                f"with @router.on({type(event).__name__})",
                detail_type=event.detail_type,
            )
        return _logged(error, via, index, record, event.detail_type)

    def _key_of(self, event: TfsoEvent | UnknownEvent) -> str | None:
        value = event.id if self.key is None else self.key(event)
        if value is None:
            return None
        return f"{event.detail_type}#{value}"

    def _lease(self, context: object) -> float:
        remaining = _remaining_seconds(context)
        if not self._checked and remaining is not None:
            self._checked = True
            _check_timeouts(self.lease, self.visibility_timeout, remaining)
        if self.lease is not None:
            return self.lease
        if remaining is not None:
            return max(remaining + 1, 1.0)
        return DEFAULT_LEASE

    @staticmethod
    async def _release(store: DedupeStore, key: str, token: str) -> None:
        try:
            await store.release(key, token)
        except Exception as exc:  # the lease frees it in the end
            logger.warning("dedupe key %s could not be released: %s", clip(key), clip(repr(exc)))


def _remaining_seconds(context: object) -> float | None:
    """What the Lambda context says is left of the invocation, in seconds."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            return float(remaining()) / 1000
        except (TypeError, ValueError):
            pass
    return None


def _check_timeouts(lease: float | None, visibility: float | None, remaining: float | None) -> None:
    """Warn (once per handler) where the lease, the SQS visibility timeout and the
    function's timeout (seen as the first invocation's remaining time) contradict."""
    if lease is not None and visibility is not None and lease > visibility:
        logger.warning(
            "dedupe lease (%s s) is longer than the SQS visibility timeout (%s s): when a "
            "handler dies, its message comes back while its key is still held and fails "
            "again, each time counting toward maxReceiveCount (it may reach the DLQ before "
            "the lease ends). Make the visibility timeout at least the lease",
            lease,
            visibility,
        )
    if remaining is None:
        return
    if lease is not None and lease < remaining:
        logger.warning(
            "dedupe lease (%s s) is shorter than the function may run (%.0f s left of this "
            "invocation): a claim can lapse while its handler still runs, and a redelivery "
            "then runs it twice at once. Leave `lease` unset (the remaining time) or make "
            "it at least the function's timeout",
            lease,
            remaining,
        )
    if visibility is not None and visibility < remaining:
        logger.warning(
            "SQS visibility timeout (%s s) is shorter than the function may run (%.0f s "
            "left of this invocation): a message comes back while its handler runs and "
            "fails as held. Make it at least the function's timeout (AWS advises 6x)",
            visibility,
            remaining,
        )


def _held(
    via: Via, index: int, record: Mapping[str, Any], event: TfsoEvent | UnknownEvent, key: str
) -> DedupeKeyHeldError:
    error = DedupeKeyHeldError(
        f"{event.detail_type} {event.id}: its dedupe key {key!r} is held by another "
        "invocation that has not finished (its lease has not ended); the record is failed "
        "so it is delivered again, never acknowledged before its handler succeeded",
        key=key,
        detail_type=event.detail_type,
    )
    return _logged(error, via, index, record, event.detail_type)


def _logged(error: _Err, via: Via, index: int, record: Mapping[str, Any], detail_type: str) -> _Err:
    """Log ``error`` as the WARNING for this record (where, clipped message, extra=
    fields) and hand it back."""
    logger.warning(
        "%s: %s", _where(via, index, record), clip(error), extra=_extra(via, record, detail_type)
    )
    return error


def _decode(via: Via, index: int, record: Mapping[str, Any]) -> TfsoEvent | UnknownEvent:
    if via == "sqs":
        return decode_sqs_body(record.get("body"), index)
    if via == "sns":
        return parse_event(record["Sns"]["Message"])
    return parse_event(record)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _message_id(via: Via, record: Mapping[str, Any]) -> str | None:
    if via == "sqs":
        return _str_or_none(record.get("messageId"))
    if via == "sns":
        return _str_or_none(record["Sns"].get("MessageId"))
    return _str_or_none(record.get("id"))


def _where(via: Via, index: int, record: Mapping[str, Any]) -> str:
    # Ids come from the record: clipped, as everything from outside in a log line.
    if via == "sqs":
        return f"SQS message {clip(record.get('messageId'))} (record {index})"
    if via == "sns":
        return f"SNS message {clip(_message_id(via, record))} (record {index})"
    return f"EventBridge event {clip(_message_id(via, record))}"


def _clipped(value: str | None) -> str | None:
    return None if value is None else clip(value)


def _extra(via: Via, record: Mapping[str, Any], detail_type: str | None) -> dict[str, Any]:
    # Structured handlers print extra= fields too: bounded like the message.
    return {
        "via": via,
        "message_id": _clipped(_message_id(via, record)),
        "detail_type": _clipped(detail_type),
    }


def _fifo_failures(records: Sequence[Mapping[str, Any]], first: int) -> BatchResponse:
    """FIFO: the failed record and every later one, unprocessed, so their order holds."""
    failures = [{"itemIdentifier": r["messageId"]} for r in records[first:]]
    if len(failures) > 1:
        logger.info(
            "FIFO queue: %d later records of the batch are returned unprocessed, to keep "
            "their order",
            len(failures) - 1,
        )
    return {"batchItemFailures": failures}


def _log_handler_failure(
    via: Via,
    index: int,
    record: Mapping[str, Any],
    event: TfsoEvent | UnknownEvent,
    exc: Exception,
) -> None:
    logger.error(
        "%s: the handler of %s %s raised %s: %s",
        _where(via, index, record),
        clip(event.detail_type),
        clip(event.id),
        type(exc).__name__,
        clip(exc),
        exc_info=exc,
        extra=_extra(via, record, event.detail_type),
    )


def _log_invalid(
    via: Via, index: int, record: Mapping[str, Any], error: EventValidationError
) -> None:
    what = f"a {error.detail_type} event" if error.detail_type else "an event"
    logger.warning(
        "%s is not %s the catalog accepts: %s at `%s`",
        _where(via, index, record),
        clip(what),
        clip(error.reason),
        clip(error.path),
        extra={
            **_extra(via, record, error.detail_type),
            "json_path": clip(error.path),
            "reason": clip(error.reason),
        },
    )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _awaited(awaitable: Any) -> None:
    await awaitable


def _drive(coroutine: Coroutine[Any, Any, BatchResponse | None]) -> BatchResponse | None:
    """Run a coroutine that never suspends (sync handlers, memory store) without a loop."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        result: BatchResponse | None = stop.value
        return result
    coroutine.close()
    raise RuntimeError(
        "a handler suspended without an event loop: declare it `async def` so the router "
        "runs it on one"
    )
