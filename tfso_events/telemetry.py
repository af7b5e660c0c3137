"""OpenTelemetry for tfso-events: spans, metrics and a trace context that survives EventBridge.

Install the extra ``tfso-events[otel]`` (``opentelemetry-api`` only) and configure an
OpenTelemetry SDK in the application as usual; the publishers, the consume router and
the outbox then report:

* **spans** by the messaging semantic conventions: a ``create`` span per event
  (``PRODUCER``), a ``send`` span per ``PutEvents`` call or events-API ``POST``
  (``CLIENT``) linked to the ``create`` span of every event it carries, retries and
  throttling as span events, failures with ``error.type``; on the consume side a
  ``process`` span per record (``CONSUMER``) in the producer's trace and, for an SQS
  batch, a ``process`` span with a link per record;
* **the W3C trace context inside the event**: ``traceparent`` and ``tracestate`` are
  written into ``detail.metadata`` (keys :data:`TRACEPARENT_KEY`, :data:`TRACESTATE_KEY`)
  because EventBridge never delivers the ``TraceHeader`` of ``PutEvents`` to a target
  (nor keeps it in archives and replays). :func:`extract_context` reads it back, and
  the router does so for every record. ``configure(propagate=False)`` turns it off;
* **metrics**: events sent and failed, retried, throttled, the duration of each call,
  records processed, failed and skipped as duplicates, the outbox's backlog and the age
  of its oldest row (:func:`record_outbox`).

Without ``opentelemetry-api`` installed every hook is a no-op, decided once, and nothing
of OpenTelemetry is imported. With the API but no SDK (no tracer provider set) no span
is started; a trace context already current is still written into the events, so a
trace begun elsewhere carries on. docs/observability.md lists every span, attribute and
instrument, and the values chosen where the conventions define none.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from tfso_events._clip import clip

# (tfso_events.results is imported at run time only where an outcome's class is tested:
# the consume router imports this module, and a consumer does not load publish results.)
if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from tfso_events.models._base import TfsoEvent, UnknownEvent
    from tfso_events.publishing._batching import Entry, Outcome
    from tfso_events.results import BatchResult, OnResult, PublishFailure, PublishResult

__all__ = [
    "EVENTBRIDGE_SYSTEM",
    "EVENTS_API_SYSTEM",
    "TRACEPARENT_KEY",
    "TRACESTATE_KEY",
    "available",
    "capture_context",
    "configure",
    "extract_context",
    "record_outbox",
    "resumed",
]

log = logging.getLogger("tfso_events.telemetry")

#: The ``detail.metadata`` key of the W3C ``traceparent`` an event carries.
TRACEPARENT_KEY = "traceparent"
#: The ``detail.metadata`` key of the W3C ``tracestate`` (only when there is one).
TRACESTATE_KEY = "tracestate"
_KEYS = (TRACEPARENT_KEY, TRACESTATE_KEY)

#: ``messaging.system`` of the EventBridge client (the conventions define no value).
EVENTBRIDGE_SYSTEM = "aws.eventbridge"
#: ``messaging.system`` of the events API client.
EVENTS_API_SYSTEM = "tfso.events_api"
_SYSTEM_OF_VIA = {"eventbridge": EVENTBRIDGE_SYSTEM, "sqs": "aws_sqs", "sns": "aws.sns"}

# Custom attributes are namespaced by the library, as the conventions ask.
_DETAIL_TYPE = "tfso_events.detail_type"
_ATTEMPTS = "tfso_events.attempts"
_OUTCOME = "tfso_events.outcome"
_ERROR_TYPE = "error.type"

#: The semantic conventions' advice for duration histograms (seconds).
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

_encode = msgspec.json.encode
_T = TypeVar("_T")


# -- the OpenTelemetry API, loaded once, when first needed --------------------------------


class _Otel:
    """The OpenTelemetry API objects the hooks use: built once, on first use."""

    def __init__(
        self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> None:
        import opentelemetry.metrics._internal as metrics_internal
        from opentelemetry import context, metrics, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        from tfso_events._version import __version__

        self.trace = trace
        self.metrics = metrics
        self.metrics_internal = metrics_internal
        self.context = context
        self._tracing = self._metering = False
        # A provider named by OTEL_PYTHON_TRACER_PROVIDER / _METER_PROVIDER loads here.
        trace.get_tracer_provider()
        metrics.get_meter_provider()
        self.kind = trace.SpanKind
        self.link = trace.Link
        self.error = trace.Status(trace.StatusCode.ERROR)
        self.status = trace.Status
        self.status_code = trace.StatusCode
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.tracer = trace.get_tracer("tfso_events", __version__, tracer_provider)
        # The W3C format itself, not the global propagator: the keys in the event are
        # documented as W3C trace context whatever else the application propagates.
        self.propagator = TraceContextTextMapPropagator()
        meter = metrics.get_meter("tfso_events", __version__, meter_provider)
        self.sent = meter.create_counter(
            "messaging.client.sent.messages",
            unit="{message}",
            description="Events handed to the hub, by outcome (error.type when it failed).",
        )
        self.operation_duration = meter.create_histogram(
            "messaging.client.operation.duration",
            unit="s",
            description="Duration of each PutEvents call or events API POST.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.retried = meter.create_counter(
            "tfso_events.publish.retried",
            unit="{event}",
            description="Events that failed retryably and were sent again (or given up).",
        )
        self.throttled = meter.create_counter(
            "tfso_events.publish.throttled",
            unit="{event}",
            description="Events the hub throttled (ThrottlingException, HTTP 429).",
        )
        self.process_duration = meter.create_histogram(
            "messaging.process.duration",
            unit="s",
            description="Duration of handling one record in the consume router.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.records = meter.create_counter(
            "tfso_events.consume.records",
            unit="{record}",
            description="Records the consume router finished, by tfso_events.outcome.",
        )
        self.backlog = meter.create_gauge(
            "tfso_events.outbox.backlog",
            unit="{row}",
            description="Rows in the outbox waiting to be relayed.",
        )
        self.oldest_age = meter.create_gauge(
            "tfso_events.outbox.oldest_age",
            unit="s",
            description="Age of the oldest row waiting in the outbox.",
        )

    def recording(self) -> bool:
        """Whether spans go anywhere: a tracer provider (an SDK) is configured."""
        if self._tracing:
            return True
        provider = self.tracer_provider
        if provider is None:
            # Read per call (a service may set its provider after creating clients), so
            # kept cheap: the API's module global, None until a provider is set (the
            # public getter reads an environment variable on every call). A provider once
            # set globally is never replaced, so a yes is kept.
            provider = getattr(self.trace, "_TRACER_PROVIDER", _MISSING)
            if provider is None:
                return False
            if provider is _MISSING:  # (an API that no longer has it)
                provider = self.trace.get_tracer_provider()
        # The API's own providers (proxy, no-op) live in the API's modules; an SDK's not.
        self._tracing = not type(provider).__module__.startswith("opentelemetry.trace")
        return self._tracing

    def metering(self) -> bool:
        """Whether measurements go anywhere: a meter provider (an SDK) is configured."""
        if self._metering:
            return True
        provider = self.meter_provider
        if provider is None:
            provider = getattr(self.metrics_internal, "_METER_PROVIDER", _MISSING)
            if provider is None:
                return False
            if provider is _MISSING:
                provider = self.metrics.get_meter_provider()
        self._metering = not type(provider).__module__.startswith("opentelemetry.metrics")
        return self._metering

    def carrier(self, context: Context | None) -> dict[str, str]:
        """The W3C headers of ``context`` (``{}`` when it holds no valid span)."""
        carrier: dict[str, str] = {}
        self.propagator.inject(carrier, context=context)
        return carrier

    def extract(self, metadata: Mapping[str, Any]) -> Context | None:
        """The context an event's metadata carries, or ``None``."""
        traceparent = metadata.get(TRACEPARENT_KEY)
        if not isinstance(traceparent, str):
            return None
        carrier = {TRACEPARENT_KEY: traceparent}
        tracestate = metadata.get(TRACESTATE_KEY)
        if isinstance(tracestate, str):
            carrier[TRACESTATE_KEY] = tracestate
        context = self.propagator.extract(carrier)
        span = self.trace.get_current_span(context)
        return context if span.get_span_context().is_valid else None


_UNSET: Any = object()
_MISSING: Any = object()
_otel: _Otel | None = _UNSET
_tracer_provider: TracerProvider | None = None
_meter_provider: MeterProvider | None = None
_propagate = True


def _get() -> _Otel | None:
    """The loaded API, or ``None`` when ``opentelemetry-api`` is not installed."""
    global _otel
    otel = _otel
    if otel is _UNSET:
        try:
            otel = _Otel(_tracer_provider, _meter_provider)
        except ImportError:
            otel = None
        _otel = otel
    return otel


def available() -> bool:
    """Whether ``opentelemetry-api`` is installed (then the hooks report to it)."""
    return _get() is not None


def configure(
    *,
    propagate: bool = True,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Set how tfso-events reports to OpenTelemetry (each call sets every option).

    * ``propagate`` (default ``True``) — write the W3C trace context into each event's
      ``detail.metadata`` (``traceparent``, ``tracestate``). ``False`` leaves events as
      they are; the spans are still made, but a consumer cannot join the trace.
    * ``tracer_provider`` / ``meter_provider`` — report to these instead of the global
      ones (``opentelemetry.trace.set_tracer_provider``), as OpenTelemetry's own
      instrumentations allow; ``None``: the global providers.

    ::

        from tfso_events import telemetry
        telemetry.configure(propagate=False)   # keep detail.metadata untouched
    """
    global _otel, _tracer_provider, _meter_provider, _propagate, observing
    _propagate = propagate
    observing = False  # decided again at the router's next invocation
    _tracer_provider, _meter_provider = tracer_provider, meter_provider
    if _otel is not _UNSET:
        _otel = _UNSET  # rebuilt on next use, with the new providers


def extract_context(event: TfsoEvent | UnknownEvent | Mapping[str, Any]) -> Context | None:
    """The OpenTelemetry context a received event carries in ``detail.metadata``.

    ``event`` is a parsed event (from :func:`~tfso_events.parse_event`) or its
    ``detail.metadata``. ``None`` when it carries none, or without ``opentelemetry-api``.
    Use it as the parent of your own span when you consume without the router::

        event = parse_event(record)
        with tracer.start_as_current_span("book", context=extract_context(event)):
            ...
    """
    otel = _get()
    if otel is None:
        return None
    metadata = _metadata_of(event)
    if not metadata:
        return None
    return otel.extract(metadata)


def capture_context() -> dict[str, str]:
    """The current trace context as W3C headers (``{}`` when none, or without the API).

    What the outbox stores with a row at ``add()``, so that the relay's publish continues
    the trace of the transaction that wrote it (:func:`resumed`).
    """
    otel = _get()
    if otel is None:
        return {}
    return otel.carrier(None)


@contextlib.contextmanager
def resumed(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Make the context in ``carrier`` (from :func:`capture_context`) current for the
    body: what a publish does inside it joins that trace. A no-op without the API or an
    empty carrier."""
    otel = _get()
    context = otel.extract(carrier) if otel is not None and carrier else None
    if context is None:
        yield
        return
    assert otel is not None
    token = otel.context.attach(context)
    try:
        yield
    finally:
        otel.context.detach(token)


def metering() -> bool:
    """Whether measurements go anywhere: the API is installed and a meter provider (an
    SDK) is configured. For what costs work to measure (the outbox's backlog query)."""
    otel = _get()
    return otel is not None and otel.metering()


def record_outbox(backlog: int, oldest_age: float | None, *, table: str = "tfso_outbox") -> None:
    """Report the outbox's ``backlog`` (rows waiting) and the age in seconds of its oldest
    row (``None`` or ``0`` when empty) to the gauges ``tfso_events.outbox.backlog`` and
    ``tfso_events.outbox.oldest_age``. The relay calls it after each poll."""
    otel = _get()
    if otel is None:
        return
    attributes = {"tfso_events.outbox.table": table}
    otel.backlog.set(backlog, attributes)
    otel.oldest_age.set(oldest_age or 0.0, attributes)


def _metadata_of(event: Any) -> Mapping[str, Any] | None:
    if isinstance(event, Mapping):
        return event
    detail = getattr(event, "detail", None)
    if isinstance(detail, Mapping):  # UnknownEvent: the detail is a dict
        metadata = detail.get("metadata")
    else:
        metadata = getattr(detail, "metadata", None)
    return metadata if isinstance(metadata, Mapping) else None


# -- publishing -----------------------------------------------------------------------


class Publication:
    """What one ``publish()`` or ``publish_many()`` call reports (private to the package).

    Made by :func:`publication` at the start of the call. ``active`` says whether events
    are touched at all (spans recording, or a trace context to write into them); when not,
    the hot path does nothing more than read it. At the end, :meth:`finished` (or
    :meth:`finished_one`) counts the outcomes and writes the log lines: INFO one summary
    per ``publish_many``, ERROR one line per reason events were given up for.
    """

    __slots__ = ("_otel", "_recording", "_started", "_system", "active", "log", "spans")

    def __init__(self, system: str, logger: logging.Logger, *, spans: bool = True) -> None:
        self._system = system
        self.log = logger
        self._started = time.monotonic()
        self.spans: list[Span | None] = []
        otel = self._otel = _get()
        self._recording = spans and otel is not None and otel.recording()
        self.active = self._recording or (
            otel is not None
            and _propagate
            and otel.trace.get_current_span().get_span_context().is_valid
        )

    # -- per event ----------------------------------------------------------------------

    def create(self, event: TfsoEvent, detail: bytes, destination: str) -> tuple[bytes, Any]:
        """Start the event's ``create`` span and write the trace context into ``detail``
        (its validated JSON); return the detail to send and the span (or ``None``)."""
        otel = self._otel
        assert otel is not None
        # A trace context the event already carries (the outbox's, from add(); or one set
        # by hand) is the parent: the publish continues that trace.
        carried = _carried(detail) if b'"traceparent"' in detail else None
        parent = otel.extract(carried) if carried else None
        span: Span | None = None
        context = parent
        if self._recording:
            span = otel.tracer.start_span(
                f"create {destination}",
                context=parent,
                kind=otel.kind.PRODUCER,
                attributes={
                    "messaging.system": self._system,
                    "messaging.operation.type": "create",
                    "messaging.operation.name": "create",
                    "messaging.destination.name": destination,
                    _DETAIL_TYPE: event.detail_type,
                },
            )
            context = otel.trace.set_span_in_context(span)
        self.spans.append(span)
        if not _propagate:
            return detail, span
        carrier = otel.carrier(context)
        if not carrier:
            return detail, span
        return _with_trace_context(event, detail, carrier), span

    def watch(self, on_result: OnResult | None) -> OnResult | None:
        """``on_result`` that also ends each event's ``create`` span the moment its
        outcome is final (``on_result`` itself when no span records)."""
        if not self._recording:
            return on_result
        spans = self.spans

        def settle(outcome: PublishResult | PublishFailure) -> object:
            _end_create(spans, outcome)
            return on_result(outcome) if on_result is not None else None

        return settle

    def abandon(self, error: BaseException, reason: str) -> None:
        """The call raised before sending anything (an invalid event further on): end
        every ``create`` span it started, with ``reason`` as their ERROR status, so none
        is left open (and unexported) forever."""
        if not self._recording:
            return
        otel = self._otel
        assert otel is not None
        for span in self.spans:
            if span is None or not span.is_recording():
                continue
            span.set_attribute(_ERROR_TYPE, type(error).__name__)
            span.set_status(otel.status(otel.status_code.ERROR, reason[:500]))
            span.end()

    # -- at the end -----------------------------------------------------------------------

    def finished(self, result: BatchResult) -> BatchResult:
        """Count and log the outcome of a ``publish_many``; return ``result``."""
        failed = result.failed
        total = len(result.results)
        self._count(result.results)
        if self._recording:
            for outcome in result.results:  # those on_result did not see (never sent)
                _end_create(self.spans, outcome)
        logger = self.log
        if failed:
            _log_given_up(logger, failed, total)
        if logger.isEnabledFor(logging.INFO):
            retried = sum(outcome.attempts > 1 for outcome in result.results)
            elapsed = time.monotonic() - self._started
            logger.info(
                "published %d of %d events in %.2f s (%d failed, %d retried)",
                total - len(failed),
                total,
                elapsed,
                len(failed),
                retried,
                extra={
                    "events": total,
                    "sent": total - len(failed),
                    "failed": len(failed),
                    "retried": retried,
                    "duration_s": round(elapsed, 3),
                },
            )
        return result

    def finished_one(self, outcome: PublishResult | PublishFailure) -> None:
        """Count and log the outcome of a ``publish()`` (only a failure is logged)."""
        from tfso_events.results import PublishFailure

        self._count((outcome,))
        if self._recording and self.spans:
            _end_create(self.spans, outcome, 0)
        if isinstance(outcome, PublishFailure):
            _log_given_up(self.log, (outcome,), 1)

    def _count(self, outcomes: Sequence[PublishResult | PublishFailure]) -> None:
        otel = self._otel
        if otel is None or not otel.metering():
            return
        from tfso_events.results import PublishResult

        counts: Counter[tuple[str, str | None]] = Counter()
        for outcome in outcomes:
            if isinstance(outcome, PublishResult):
                counts[outcome.detail_type, None] += 1
            else:
                counts[outcome.event.detail_type, _error_type(outcome)] += 1
        for (detail_type, error_type), count in counts.items():
            attributes = {
                "messaging.system": self._system,
                "messaging.operation.name": "send",
                _DETAIL_TYPE: detail_type,
            }
            if error_type is not None:
                attributes[_ERROR_TYPE] = error_type
            otel.sent.add(count, attributes)


def publication(system: str, logger: logging.Logger) -> Publication:
    """The :class:`Publication` of one publish call by a client of ``system``."""
    return Publication(system, logger)


def capturing() -> Publication:
    """A :class:`Publication` that starts no span and only writes the current trace
    context into the events: what ``Outbox.add()`` uses, so the stored event carries the
    context of the transaction that wrote it and the relay's publish continues it."""
    return Publication(EVENTBRIDGE_SYSTEM, log, spans=False)


def _end_create(
    spans: Sequence[Span | None], outcome: PublishResult | PublishFailure, at: int | None = None
) -> None:
    index = outcome.index if at is None else at
    span = spans[index] if index < len(spans) else None
    if span is None or not span.is_recording():
        return
    from tfso_events.results import PublishResult

    if isinstance(outcome, PublishResult):
        span.set_attribute("messaging.message.id", outcome.event_id)
        span.set_attribute(_ATTEMPTS, outcome.attempts)
    else:
        otel = _get()
        assert otel is not None
        span.set_attribute(_ERROR_TYPE, _error_type(outcome))
        span.set_attribute(_ATTEMPTS, outcome.attempts)
        span.set_status(otel.status(otel.status_code.ERROR, outcome.reason[:500]))
    span.end()


def _error_type(outcome: PublishFailure) -> str:
    return outcome.code or type(outcome.error).__name__


def _log_given_up(logger: logging.Logger, failed: Sequence[PublishFailure], total: int) -> None:
    """ERROR once per reason (the code) events were given up for, with how many."""
    by_code: dict[str, list[PublishFailure]] = {}
    for failure in failed:
        by_code.setdefault(_error_type(failure), []).append(failure)
    for code, failures in by_code.items():
        first = failures[0]
        logger.error(
            "gave up on %d of %d events (%s): %s%s",
            len(failures),
            total,
            code,
            f"#{first.index} {first.event.detail_type}: " if total > 1 else "",
            clip(first.error),  # may quote the service's answer: bounded
            extra={
                "failed": len(failures),
                "events": total,
                "error_code": code,
                "detail_type": first.event.detail_type,
                "first_index": first.index,
                "attempts": first.attempts,
            },
        )


def _with_trace_context(event: TfsoEvent, detail: bytes, carrier: dict[str, str]) -> bytes:
    """``detail`` (the validated JSON) with the ``carrier``'s keys in its ``metadata``.

    msgspec writes a Detail struct's ``metadata`` last and without whitespace, so for an
    event encoded so the keys are spliced in; anything else (keys to replace, the stored
    bytes an outbox row sends) is rewritten member by member, every other value kept
    byte for byte (``msgspec.Raw``), so no number or string changes on the way."""
    if detail.endswith(b'"metadata":{}}'):
        members = b",".join(b"%s:%s" % (_encode(k), _encode(v)) for k, v in carrier.items())
        return detail[:-2] + members + b"}}"
    metadata = event.detail.metadata
    if (
        metadata
        and type(event).detail_json is _STANDARD_DETAIL_JSON
        and not any(key in metadata for key in _KEYS)
        and detail.endswith(b"}}")
    ):
        members = b"".join(b",%s:%s" % (_encode(k), _encode(v)) for k, v in carrier.items())
        return detail[:-2] + members + b"}}"
    top = _RAW_MEMBERS.decode(detail)
    raw = top.get("metadata")
    found = _RAW_METADATA.decode(raw) if raw is not None else None
    kept = {k: v for k, v in (found or {}).items() if k not in _KEYS}
    kept.update((k, msgspec.Raw(_encode(v))) for k, v in carrier.items())
    top["metadata"] = msgspec.Raw(_encode(kept))
    return _encode(top)


def _carried(detail: bytes) -> Mapping[str, Any] | None:
    """The trace context keys of a detail's ``metadata`` (read from the bytes, which an
    outbox row's event sends as stored), or ``None``."""
    try:
        top = _RAW_MEMBERS.decode(detail)
        raw = top.get("metadata")
        metadata = _RAW_METADATA.decode(raw) if raw is not None else None
    except msgspec.DecodeError:
        return None
    if not metadata:
        return None
    carried: dict[str, Any] = {}
    for key in _KEYS:
        if key in metadata:
            with contextlib.suppress(msgspec.DecodeError):
                carried[key] = msgspec.json.decode(metadata[key])
    return carried or None


_RAW_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_RAW_METADATA = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)


def _standard_detail_json() -> Any:
    from tfso_events.models._base import TfsoEvent

    return TfsoEvent.detail_json


_STANDARD_DETAIL_JSON = _standard_detail_json()


def traced_send(
    send: Callable[[Sequence[Entry[_T]]], Awaitable[Sequence[Outcome]]],
    system: str,
    operation: str,
    destination: Callable[[Entry[_T]], str],
) -> Callable[[Sequence[Entry[_T]]], Awaitable[Sequence[Outcome]]]:
    """``send`` (a transport's one call: ``PutEvents``, an events API ``POST``) wrapped in
    a ``send`` span linked to its events' ``create`` spans, and timed. Without the API,
    ``send`` itself, unchanged."""
    otel = _get()
    if otel is None:
        return send

    async def traced(entries: Sequence[Entry[_T]]) -> Sequence[Outcome]:
        recording = otel.recording()
        if not recording and not otel.metering():
            return await send(entries)  # the API without an SDK: nothing to report
        from tfso_events.publishing._batching import Retry, RetryableCallError

        started = time.perf_counter()
        base = {"messaging.system": system, "messaging.operation.name": operation}
        span: Span | None = None
        if recording:
            destinations = {destination(entry) for entry in entries}
            attributes: dict[str, Any] = {
                **base,
                "messaging.operation.type": "send",
                "messaging.batch.message_count": len(entries),
            }
            name = "send"
            if len(destinations) == 1:
                (attributes["messaging.destination.name"],) = destinations
                name = f"send {attributes['messaging.destination.name']}"
            links = [
                otel.link(entry.span.get_span_context())
                for entry in entries
                if entry.span is not None
            ]
            # CLIENT, not PRODUCER: the events' creation contexts are their create spans.
            span = otel.tracer.start_span(
                name, kind=otel.kind.CLIENT, attributes=attributes, links=links
            )
        try:
            answers = await send(entries)
        except RetryableCallError as exc:
            _call_failed(otel, span, base, started, exc.code, str(exc))
            if exc.throttled:
                otel.throttled.add(len(entries), base)
            otel.retried.add(len(entries), {**base, _ERROR_TYPE: exc.code})
            if span is not None:
                for entry in entries:
                    _retry_event(entry, exc.code, exc.throttled)
            raise
        except BaseException as exc:
            _call_failed(otel, span, base, started, type(exc).__name__, str(exc))
            raise
        accepted = retried = throttled = 0
        error_type: str | None = None
        for entry, answer in zip(entries, answers, strict=False):
            if isinstance(answer, str):  # accepted: its event id
                accepted += 1
            elif isinstance(answer, Retry):
                retried += 1
                throttled += answer.throttled
                error_type = error_type or answer.code
                if span is not None:
                    _retry_event(entry, answer.code, answer.throttled)
            else:
                error_type = error_type or answer.code or type(answer.error).__name__
        if retried:
            otel.retried.add(retried, base)
        if throttled:
            otel.throttled.add(throttled, base)
        failed = accepted == 0 and error_type is not None
        duration = {**base, _ERROR_TYPE: error_type} if failed and error_type else base
        otel.operation_duration.record(time.perf_counter() - started, duration)
        if span is not None:
            span.set_attribute("tfso_events.accepted", accepted)
            if retried:
                span.add_event(
                    "retry", {"tfso_events.retried": retried, "tfso_events.throttled": throttled}
                )
            if failed and error_type:
                span.set_attribute(_ERROR_TYPE, error_type)
                span.set_status(otel.error)
            span.end()
        return answers

    return traced


def _retry_event(entry: Entry[Any], code: str, throttled: bool) -> None:
    span = entry.span
    if span is not None:
        span.add_event(
            "throttled" if throttled else "retry",
            {_ERROR_TYPE: code, _ATTEMPTS: entry.attempts},
        )


def _call_failed(
    otel: _Otel,
    span: Span | None,
    base: dict[str, Any],
    started: float,
    error_type: str,
    message: str,
) -> None:
    otel.operation_duration.record(time.perf_counter() - started, {**base, _ERROR_TYPE: error_type})
    if span is not None:
        span.set_attribute(_ERROR_TYPE, error_type)
        span.set_status(otel.status(otel.status_code.ERROR, message[:500]))
        span.end()


# -- consuming ------------------------------------------------------------------------


#: Whether the router reports its records: set once per invocation by
#: :func:`processing_batch`, read per record, so that with nothing to report (no API,
#: or no SDK) a record costs the router one attribute read.
observing = False

#: The batch span of the SQS batch being processed (records link to it).
_batch: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "tfso_events_batch", default=None
)


class _Process:
    """One record's ``process`` span (current from :func:`processing` until
    :meth:`end`) and its measurements."""

    __slots__ = ("_attributes", "_otel", "_span", "_started", "_token")

    def __init__(self, otel: _Otel, span: Span | None, attributes: dict[str, Any]) -> None:
        self._otel = otel
        self._span = span
        self._attributes = attributes
        self._token: object = None
        if span is not None:
            self._token = otel.context.attach(otel.trace.set_span_in_context(span))
        self._started = time.perf_counter()

    def end(self, error: BaseException | None = None, outcome: str | None = None) -> None:
        """The record is finished: ``processed``, or ``failed`` with ``error`` (the
        handler raised, the record was invalid), or ``outcome`` (``duplicate``)."""
        otel, span, attributes = self._otel, self._span, self._attributes
        if self._token is not None:
            otel.context.detach(self._token)
        if error is not None:
            outcome = "failed"
            attributes[_ERROR_TYPE] = type(error).__name__
            if span is not None:
                span.set_attribute(_ERROR_TYPE, type(error).__name__)
                span.record_exception(error)
                span.set_status(otel.status(otel.status_code.ERROR, str(error)[:500]))
        outcome = outcome or "processed"
        otel.records.add(1, {**attributes, _OUTCOME: outcome})
        if outcome in ("processed", "failed"):
            otel.process_duration.record(time.perf_counter() - self._started, attributes)
        if span is not None:
            span.set_attribute(_OUTCOME, outcome)
            span.end()


def processing(
    via: str, record: Mapping[str, Any], event: TfsoEvent | UnknownEvent | None
) -> _Process:
    """Start the ``process`` span of one record (``event`` ``None`` when it could not be
    read), in the producer's trace when the event carries one, and make it current until
    ``end()``. Called only while :data:`observing`."""
    otel = _get()
    assert otel is not None  # observing says it is loaded
    recording = otel.recording()
    attributes: dict[str, Any] = {"messaging.system": _SYSTEM_OF_VIA.get(via, via)}
    queue = _queue_name(via, record)
    if queue is not None:
        attributes["messaging.destination.name"] = queue
    if event is not None:
        attributes[_DETAIL_TYPE] = event.detail_type
    span: Span | None = None
    if recording:
        span_attributes = {
            **attributes,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
        }
        message_id = getattr(event, "id", None)
        if message_id:
            span_attributes["messaging.message.id"] = message_id
        parent = extract_context(event) if event is not None else None
        batch = _batch.get()
        links = [otel.link(batch.get_span_context())] if batch is not None else None
        span = otel.tracer.start_span(
            f"process {queue}" if queue else "process",
            context=parent,
            kind=otel.kind.CONSUMER,
            attributes=span_attributes,
            links=links,
        )
        if batch is not None and parent is not None:
            batch.add_link(otel.trace.get_current_span(parent).get_span_context())
    return _Process(otel, span, attributes)


def processing_batch(
    via: str, records: Sequence[Mapping[str, Any]]
) -> contextlib.AbstractContextManager[None]:
    """Once per invocation of the router: decide :data:`observing`, and return the span
    of an SQS batch, current while its records are handled (each record's ``process``
    span links to it, and it links to each record's creation context); a shared no-op
    for anything but an SQS batch under a recording SDK."""
    global observing
    otel = _otel if _otel is not _UNSET else _get()
    if otel is None:
        observing = False
        return _NO_BATCH
    recording = otel.recording()
    observing = recording or otel.metering()
    if via != "sqs" or not recording:
        return _NO_BATCH
    return _batch_span(otel, records)


_NO_BATCH = contextlib.nullcontext()


@contextlib.contextmanager
def _batch_span(otel: _Otel, records: Sequence[Mapping[str, Any]]) -> Iterator[None]:
    queue = _queue_name("sqs", records[0]) if records else None
    attributes: dict[str, Any] = {
        "messaging.system": _SYSTEM_OF_VIA["sqs"],
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.batch.message_count": len(records),
    }
    if queue:
        attributes["messaging.destination.name"] = queue
    span = otel.tracer.start_span(
        f"process {queue}" if queue else "process", kind=otel.kind.CONSUMER, attributes=attributes
    )
    token = _batch.set(span)
    try:
        with otel.trace.use_span(span, end_on_exit=True):
            yield
    finally:
        _batch.reset(token)


def unreadable(via: str, record: Mapping[str, Any], error: BaseException) -> None:
    """A record the router could not read (an invalid envelope): a failed ``process``
    span with ``error.type``, counted failed."""
    if observing:
        processing(via, record, None).end(error)


def _queue_name(via: str, record: Mapping[str, Any]) -> str | None:
    if via == "sqs":
        arn = record.get("eventSourceARN")
        return arn.rsplit(":", 1)[-1] if isinstance(arn, str) else None
    if via == "sns":
        sns = record.get("Sns")
        arn = sns.get("TopicArn") if isinstance(sns, Mapping) else None
        return arn.rsplit(":", 1)[-1] if isinstance(arn, str) else None
    return None
