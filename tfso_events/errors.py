"""The one exception hierarchy of tfso-events.

::

    TfsoEventsError
    ├── EventValidationError (also ValueError)   an event does not match its contract
    │   ├── UnknownEventTypeError                 parse_event(strict=True) met a detail-type
    │   ├── EventTooLargeError                    over a PutEvents size/shape limit
    │   └── LambdaEventError                      a Lambda event the consume router cannot read
    ├── UnhandledEventError                       a strict router got an event no handler takes
    ├── DedupeKeyHeldError                        a duplicate of an event still being handled
    ├── ConfigurationError (also ValueError)      bad environment, no credentials, closed
    ├── InvalidPatternError (also ValueError)     an event pattern EventBridge would refuse
    ├── AuthenticationError                       Auth0 refused us, or a scope is missing
    └── PublishError                              events failed for good; carries the BatchResult
        ├── DeliveryError                         one event failed for good (publish())
        │   ├── AuthenticationDeliveryError       ... because the credentials were refused
        │   ├── ConfigurationDeliveryError        ... because the client is misconfigured
        │   └── EventValidationDeliveryError      ... because the service refused it as invalid
        ├── AuthenticationPublishError            publish_many(): every failure was the credentials
        ├── ConfigurationPublishError             ... every failure was the configuration
        └── EventValidationPublishError           ... the service refused every failed event

    The six on the right of PublishError are also the error of their cause
    (AuthenticationDeliveryError is an AuthenticationError too, and so on).

One rule for both publishing methods of every publisher (the clients, their sync
facades, the memory publishers): an invalid event or a closed/unconfigured client is
refused before anything is sent (``EventValidationError``, ``ConfigurationError``); once
delivery was attempted, a failure is a ``PublishError``: ``DeliveryError`` from
``publish()``, ``PublishError`` carrying the ``BatchResult`` from ``publish_many()``.
When the cause was the credentials or the configuration (for every failed event), the
raised error is *also* an ``AuthenticationError`` / ``ConfigurationError``, so::

    except AuthenticationError:   # works the same around publish() and publish_many()
    except PublishError:          # catches every delivery failure of both

The cause itself is the raised error's ``__cause__`` (and each failure's ``error``).

Messages say what was wrong, where (a JSON path such as ``$.content.favoriteColor``)
and what to do. No message ever contains a client secret or an access token.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

#: What a :class:`PublishError` carries: every publisher gives a
#: :class:`tfso_events.BatchResult`. A type parameter, not that class, so that this
#: module, the ground floor, knows nothing of the layers above it.
ResultT = TypeVar("ResultT")

__all__ = [
    "AuthenticationDeliveryError",
    "AuthenticationError",
    "AuthenticationPublishError",
    "ConfigurationDeliveryError",
    "ConfigurationError",
    "ConfigurationPublishError",
    "DedupeKeyHeldError",
    "DeliveryError",
    "EventTooLargeError",
    "EventValidationDeliveryError",
    "EventValidationError",
    "EventValidationPublishError",
    "InvalidPatternError",
    "LambdaEventError",
    "PublishError",
    "TfsoEventsError",
    "UnhandledEventError",
    "UnknownEventTypeError",
]


class TfsoEventsError(Exception):
    """Base class of every error raised by tfso-events."""


class EventValidationError(TfsoEventsError, ValueError):
    """An event or payload does not match its contract.

    ``path`` is the JSON path of the offending field (``$.content.favoriteColor``) or
    ``$`` when the whole document is wrong; ``detail_type`` names the event when known;
    ``reason`` is the bare explanation without the path.
    """

    def __init__(self, reason: str, *, path: str = "$", detail_type: str | None = None) -> None:
        self.reason = reason
        self.path = path
        self.detail_type = detail_type
        where = f" at `{path}`" if path else ""
        what = f"{detail_type}: " if detail_type else ""
        super().__init__(f"{what}{reason}{where}")


class UnknownEventTypeError(EventValidationError):
    """``parse_event(..., strict=True)`` met a detail-type that is not in the catalog."""


class EventTooLargeError(EventValidationError):
    """An entry breaks a PutEvents limit (size, DetailType length, reserved Source)."""


class LambdaEventError(EventValidationError):
    """The consume router was invoked with something that is not an EventBridge envelope,
    an SQS event or an SNS event (or is one with a broken shape, such as an SQS record
    without ``messageId``). ``path`` points into the Lambda event (``$.Records[0]``)."""


class UnhandledEventError(TfsoEventsError):
    """A strict :class:`~tfso_events.consume.EventRouter` received an event that no
    handler takes; ``detail_type`` names it."""

    def __init__(self, message: str, *, detail_type: str | None = None) -> None:
        super().__init__(message)
        self.detail_type = detail_type


class DedupeKeyHeldError(TfsoEventsError):
    """The consume router met an event whose dedupe key another invocation holds (its
    handler has not finished and its lease has not ended). The record is failed, never
    acknowledged, so it is delivered again: by then the holder has completed the key (the
    copy is skipped), released it, or died and its lease ended (the copy runs).
    ``key`` and ``detail_type`` name it."""

    def __init__(self, message: str, *, key: str, detail_type: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.detail_type = detail_type


class ConfigurationError(TfsoEventsError, ValueError):
    """The client is configured wrongly: unknown environment, missing credentials, closed."""


class InvalidPatternError(TfsoEventsError, ValueError):
    """An event pattern EventBridge would refuse (``PutRule`` answers
    ``InvalidEventPatternException``): ``path`` is where in the pattern
    (``$.detail.amount[0].numeric``), ``rule`` the rule it breaks."""

    def __init__(self, rule: str, *, path: str = "$") -> None:
        self.rule = rule
        self.path = path
        super().__init__(f"invalid event pattern at `{path}`: {rule}")


class AuthenticationError(TfsoEventsError):
    """Auth0 refused the client credentials, or the token lacks the event's scope."""


class PublishError(TfsoEventsError, Generic[ResultT]):
    """One or more events could not be delivered; ``result`` says which and why.

    ``result`` is the :class:`~tfso_events.BatchResult` of the ``publish_many()`` that
    raised it (``None`` from a single ``publish()``): ``result.failed`` lists every failed
    event with its reason, ready to resend. What the publishers raise is a
    ``PublishError[BatchResult]``; annotate it so when you want ``result`` typed::

        except PublishError as error:
            batch: BatchResult | None = error.result
    """

    result: ResultT | None

    def __init__(self, message: str, result: ResultT | None = None) -> None:
        super().__init__(message)
        self.result = result


class DeliveryError(PublishError[None]):
    """A single ``publish()`` failed for good: ``code`` is the transport's error code
    (``ThrottlingException``, ``http_503``, ...) and ``attempts`` how often it was tried.
    ``retryable`` is ``True`` when every failure was a passing one (throttling, a 5xx, no
    answer) and the publisher gave up under its :class:`~tfso_events.RetryPolicy` (the
    deadline or the attempts ran out): sending the event again later may succeed. A
    refusal of the event itself is ``False``."""

    retryable: bool = False

    def __init__(
        self, message: str, *, code: str | None = None, attempts: int = 1, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.attempts = attempts
        self.retryable = retryable


# The errors a delivery failure raises when its cause was the credentials, the
# configuration or the service's refusal of the event as invalid: a PublishError (the
# rule for both methods) that is also the cause's class, so ``except
# AuthenticationError`` keeps working (see the module docstring). Public names: they
# are what ``type(error).__name__`` shows in logs and error trackers.


class AuthenticationDeliveryError(DeliveryError, AuthenticationError):
    """``publish()`` failed because the credentials were refused (a wrong client
    secret, a missing scope, AWS refusing the key): a :class:`DeliveryError` and an
    :class:`AuthenticationError`; the refusal itself is ``__cause__``."""


class ConfigurationDeliveryError(DeliveryError, ConfigurationError):
    """``publish()`` failed because the client is configured wrongly (no region, no
    credentials, an unknown endpoint): a :class:`DeliveryError` and a
    :class:`ConfigurationError`."""


class EventValidationDeliveryError(DeliveryError, EventValidationError):
    """``publish()`` failed because the service refused the event as invalid (HTTP 400
    with a path): a :class:`DeliveryError` and an :class:`EventValidationError`, with
    its ``path`` and ``reason``."""


class AuthenticationPublishError(PublishError[ResultT], AuthenticationError):
    """``publish_many()``: every failed event failed because the credentials were refused;
    a :class:`PublishError` (with ``result``) and an :class:`AuthenticationError`."""


class ConfigurationPublishError(PublishError[ResultT], ConfigurationError):
    """``publish_many()``: every failed event failed because the client is misconfigured;
    a :class:`PublishError` (with ``result``) and a :class:`ConfigurationError`."""


class EventValidationPublishError(PublishError[ResultT], EventValidationError):
    """``publish_many()``: the service refused every failed event as invalid; a
    :class:`PublishError` (with ``result``) and an :class:`EventValidationError`."""


_AS = (
    (AuthenticationError, AuthenticationDeliveryError, AuthenticationPublishError),
    (ConfigurationError, ConfigurationDeliveryError, ConfigurationPublishError),
    (EventValidationError, EventValidationDeliveryError, EventValidationPublishError),
)


def _like(cls: type[PublishError[Any]], cause: Exception) -> PublishError[Any]:
    """A ``cls`` with ``cause``'s message and attributes (``path``, ``reason``, ...)."""
    raised = cls.__new__(cls)
    Exception.__init__(raised, *cause.args)
    vars(raised).update(vars(cause))
    raised.__cause__ = cause
    return raised


def delivery_error(error: Exception, *, code: str | None, attempts: int) -> DeliveryError:
    """What ``publish()`` raises for a failure whose cause is ``error``: ``error`` itself
    when it is a :class:`DeliveryError`, else a DeliveryError (also of the cause's class
    for credentials, configuration and validation) whose ``__cause__`` is ``error``."""
    if isinstance(error, DeliveryError):
        return error
    for kind, as_delivery, _ in _AS:
        if isinstance(error, kind):
            raised = _like(as_delivery, error)
            break
    else:
        raised = DeliveryError(str(error))
        raised.__cause__ = error
    assert isinstance(raised, DeliveryError)
    raised.result, raised.code, raised.attempts = None, code, attempts
    return raised


def publish_error(message: str, result: ResultT, causes: list[Exception]) -> PublishError[ResultT]:
    """What ``publish_many()`` raises when events failed: a :class:`PublishError`, also an
    AuthenticationError / ConfigurationError / EventValidationError when every cause was
    one; its ``__cause__`` is the first failure's error."""
    cls: type[PublishError[Any]] = PublishError
    for kind, _, as_publish in _AS:
        if causes and all(isinstance(c, kind) for c in causes):
            cls = as_publish
            break
    raised = cls.__new__(cls)
    Exception.__init__(raised, message)
    raised.result = result
    if cls is not PublishError:
        first = next(c for c in causes)
        vars(raised).update(
            {k: v for k, v in vars(first).items() if k in ("path", "reason", "detail_type")}
        )
    if causes:
        raised.__cause__ = causes[0]
    return raised
