"""The one exception hierarchy of tfso-events.

::

    TfsoEventsError
    ├── EventValidationError (also ValueError)   an event does not match its contract
    │   ├── UnknownEventTypeError                 parse_event(strict=True) met a detail-type
    │   ├── EventTooLargeError                    over a PutEvents size/shape limit
    │   └── LambdaEventError                      a Lambda event the consume router cannot read
    ├── UnhandledEventError                       a strict router got an event no handler takes
    ├── ConfigurationError (also ValueError)      bad environment, no credentials, closed
    ├── AuthenticationError                       Auth0 refused us, or a scope is missing
    └── PublishError                              events failed for good; carries the BatchResult
        └── DeliveryError                         one event failed for good (publish())

Messages say what was wrong, where (a JSON path such as ``$.content.favoriteColor``)
and what to do. No message ever contains a client secret or an access token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tfso_events.results import BatchResult

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "DeliveryError",
    "EventTooLargeError",
    "EventValidationError",
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


class ConfigurationError(TfsoEventsError, ValueError):
    """The client is configured wrongly: unknown environment, missing credentials, closed."""


class AuthenticationError(TfsoEventsError):
    """Auth0 refused the client credentials, or the token lacks the event's scope."""


class PublishError(TfsoEventsError):
    """One or more events could not be delivered; ``result`` says which and why.

    ``result.failed`` lists every failed event with its reason, ready to resend.
    """

    def __init__(self, message: str, result: BatchResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class DeliveryError(PublishError):
    """A single ``publish()`` failed for good: ``code`` is the transport's error code
    (``ThrottlingException``, ``http_503``, ...) and ``attempts`` how often it was tried."""

    def __init__(self, message: str, *, code: str | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.attempts = attempts
