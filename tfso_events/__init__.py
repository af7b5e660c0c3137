"""tfso-events: typed event models, publishers and a local Event Hub for the TFSO Event Hub.

Build an event from its module, publish it with either client, parse what arrives::

    from tfso_events import TfsoEventApiClient, parse_event
    from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event

The publishers (and :class:`LocalHub`) are imported on first use, so a Lambda consumer
that only calls :func:`parse_event` pays for msgspec alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tfso_events._version import __version__
from tfso_events.catalog import (
    CatalogEvent,
    EventPattern,
    detail_filter,
    event_class,
    event_classes,
    event_pattern,
    event_schema,
    events,
    parse_event,
    validate_body,
)
from tfso_events.constants import DetailTypes, TfsoModules, TfsoSources
from tfso_events.errors import (
    AuthenticationDeliveryError,
    AuthenticationError,
    AuthenticationPublishError,
    ConfigurationDeliveryError,
    ConfigurationError,
    ConfigurationPublishError,
    DedupeKeyHeldError,
    DeliveryError,
    EventTooLargeError,
    EventValidationDeliveryError,
    EventValidationError,
    EventValidationPublishError,
    InvalidPatternError,
    LambdaEventError,
    PublishError,
    TfsoEventsError,
    UnhandledEventError,
    UnknownEventTypeError,
)
from tfso_events.models._base import EventContent, EventDetail, TfsoEvent, UnknownEvent

if TYPE_CHECKING:
    from tfso_events.consume import (
        Claim,
        DedupeStore,
        DynamoDBDedupeStore,
        EventRouter,
        MemoryDedupeStore,
        RecordContext,
    )
    from tfso_events.local import LocalHub
    from tfso_events.publishing._batching import RetryPolicy
    from tfso_events.publishing._protocols import Publisher, SyncPublisher
    from tfso_events.publishing.api import TfsoEventApiClient
    from tfso_events.publishing.eventbridge import TfsoEventBridgeClient
    from tfso_events.results import BatchResult, PublishFailure, PublishResult


# A library's loggers stay silent until the application configures logging (the logging
# HOWTO's rule for libraries): without this, Python's last-resort handler would print
# our warnings on the stderr of any unconfigured script.
logging.getLogger("tfso_events").addHandler(logging.NullHandler())

__all__ = [
    "AuthenticationDeliveryError",
    "AuthenticationError",
    "AuthenticationPublishError",
    "BatchResult",
    "CatalogEvent",
    "Claim",
    "ConfigurationDeliveryError",
    "ConfigurationError",
    "ConfigurationPublishError",
    "DedupeKeyHeldError",
    "DedupeStore",
    "DeliveryError",
    "DetailTypes",
    "DynamoDBDedupeStore",
    "EventContent",
    "EventDetail",
    "EventPattern",
    "EventRouter",
    "EventTooLargeError",
    "EventValidationDeliveryError",
    "EventValidationError",
    "EventValidationPublishError",
    "InvalidPatternError",
    "LambdaEventError",
    "LocalHub",
    "MemoryDedupeStore",
    "PublishError",
    "PublishFailure",
    "PublishResult",
    "Publisher",
    "RecordContext",
    "RetryPolicy",
    "SyncPublisher",
    "TfsoEvent",
    "TfsoEventApiClient",
    "TfsoEventBridgeClient",
    "TfsoEventsError",
    "TfsoModules",
    "TfsoSources",
    "UnhandledEventError",
    "UnknownEvent",
    "UnknownEventTypeError",
    "__version__",
    "detail_filter",
    "event_class",
    "event_classes",
    "event_pattern",
    "event_schema",
    "events",
    "parse_event",
    "validate_body",
]

# The publishing layer (asyncio, and with it ssl) is loaded on first use: a Lambda
# consumer that imports the router or parse_event never pays for it.
_LAZY = {
    "BatchResult": "tfso_events.results",
    "PublishFailure": "tfso_events.results",
    "PublishResult": "tfso_events.results",
    "Publisher": "tfso_events.publishing._protocols",
    "RetryPolicy": "tfso_events.publishing._batching",
    "SyncPublisher": "tfso_events.publishing._protocols",
    "TfsoEventApiClient": "tfso_events.publishing.api",
    "TfsoEventBridgeClient": "tfso_events.publishing.eventbridge",
    "LocalHub": "tfso_events.local",
    "Claim": "tfso_events.consume",
    "DedupeStore": "tfso_events.consume",
    "DynamoDBDedupeStore": "tfso_events.consume",
    "EventRouter": "tfso_events.consume",
    "MemoryDedupeStore": "tfso_events.consume",
    "RecordContext": "tfso_events.consume",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tfso_events' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
