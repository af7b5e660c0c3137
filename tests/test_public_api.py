"""The public API is a deliberate list, and importing it is cheap (cold start)."""

from __future__ import annotations

import json
import subprocess
import sys

import tfso_events

EXPECTED = [
    "AuthenticationError",
    "BatchResult",
    "ConfigurationError",
    "DedupeStore",
    "DeliveryError",
    "DetailTypes",
    "DynamoDBDedupeStore",
    "EventContent",
    "EventDetail",
    "EventRouter",
    "EventTooLargeError",
    "EventValidationError",
    "LambdaEventError",
    "LocalHub",
    "MemoryDedupeStore",
    "PublishError",
    "PublishFailure",
    "PublishResult",
    "RecordContext",
    "RetryPolicy",
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
    "event_class",
    "event_pattern",
    "event_schema",
    "events",
    "parse_event",
    "validate_body",
]


def test_exported_names_are_the_deliberate_list() -> None:
    """tfso_events.__all__ is exactly the documented public API, sorted."""
    assert tfso_events.__all__ == EXPECTED
    assert sorted(tfso_events.__all__) == tfso_events.__all__


def test_every_exported_name_resolves_and_is_documented() -> None:
    """Each public name can be imported and (except the version) has a docstring."""
    for name in tfso_events.__all__:
        value = getattr(tfso_events, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), name


def test_error_hierarchy() -> None:
    """Every error derives from TfsoEventsError; validation errors are also ValueErrors."""
    assert issubclass(tfso_events.EventValidationError, ValueError)
    assert issubclass(tfso_events.ConfigurationError, ValueError)
    for name in tfso_events.__all__:
        value = getattr(tfso_events, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, tfso_events.TfsoEventsError), name
    assert issubclass(tfso_events.UnknownEventTypeError, tfso_events.EventValidationError)
    assert issubclass(tfso_events.DeliveryError, tfso_events.PublishError)
    assert issubclass(tfso_events.LambdaEventError, tfso_events.EventValidationError)


COLD_START = """
import json, sys
import tfso_events
from tfso_events import parse_event
event = parse_event(b'{"detail-type":"bank.transaction:deleted@v1","source":"s","detail":'
    b'{"content":{"transactionId":"t","license":"l","status":{"text":"posted","code":1}},'
    b'"timestamp":"2024-01-01T00:00:00Z","metadata":{}}}')
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"aioboto3", "aiobotocore",
    "botocore", "boto3", "aiohttp", "authlib", "joserfc", "cryptography"})
print(json.dumps({"heavy": heavy, "type": type(event).__name__}))
"""


def test_cold_start_imports_no_io_stack() -> None:
    """import tfso_events + parse_event loads none of aioboto3, botocore, aiohttp, authlib."""
    out = subprocess.run(
        [sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result == {"heavy": [], "type": "BankTransactionDeletedV1Event"}
