"""Without opentelemetry-api importable, nothing of it is imported and nothing changes."""

from __future__ import annotations

import json
import subprocess
import sys

from tfso_events import telemetry

# A fresh interpreter in which `import opentelemetry` fails, as where the extra is not
# installed: the package, parse_event, the router and an EventBridge client's entries.
WITHOUT_OTEL = """
import json, sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Blocker())
import tfso_events
from tfso_events import parse_event, telemetry
from tfso_events.consume import EventRouter
from tfso_events.testing import lambda_sqs_event
from tfso_events.examples import sample_event
event = sample_event("bank.test:created@v1")
seen = []
router = EventRouter()
router.on(type(event))(seen.append)
router.lambda_handler(lambda_sqs_event(event))
parse_event(json.loads(lambda_sqs_event(event)["Records"][0]["body"]))
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient
client = TfsoEventBridgeClient("dev")
send = client._traced_send
entry = client._entry(0, event, None, telemetry.publication("x", telemetry.log))
print(json.dumps({
    "otel": sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"),
    "handled": len(seen),
    "available": telemetry.available(),
    "send_unwrapped": send == client._send,
    "detail_unchanged": entry.payload["Detail"] == event.detail_json().decode(),
    "span": entry.span,
}))
"""


def test_without_the_api_nothing_of_opentelemetry_is_imported_and_nothing_changes() -> None:
    """In a fresh interpreter where opentelemetry cannot be imported: import tfso_events,
    parse_event and the router handling an SQS record import nothing of it; the client's
    send is its transport's own (no wrapper on the hot path) and the entry it builds is
    the validated detail, unchanged."""
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_OTEL], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == {
        "otel": [],
        "handled": 1,
        "available": False,
        "send_unwrapped": True,
        "detail_unchanged": True,
        "span": None,
    }


IMPORT_ONLY = """
import json, sys
import tfso_events
from tfso_events import parse_event
from tfso_events.consume import EventRouter
import tfso_events.publishing.eventbridge, tfso_events.publishing.api
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")))
"""


def test_importing_the_package_imports_nothing_of_opentelemetry_even_when_installed() -> None:
    """With opentelemetry-api installed, importing the package, the router and both
    clients still imports none of it (it loads on first use)."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ONLY], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_trace_context_goes_into_metadata_of_every_catalog_event_and_parses_back() -> None:
    """Writing traceparent/tracestate into the validated detail JSON (the fast splice,
    with empty and with filled metadata) gives JSON that parse_event reads back with the
    keys in metadata and every other field unchanged, for every event of the catalog."""
    import msgspec

    from tfso_events.examples import sample_events

    carrier = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "tracestate": 'x="1"'}
    for metadata in ({}, {"tenant": 7, "nested": {"a": [1, {}]}}):
        for event in sample_events():
            event.detail.metadata.clear()
            event.detail.metadata.update(metadata)
            detail = event.detail_json()
            spliced = telemetry._with_trace_context(event, detail, dict(carrier))
            parsed = type(event).detail_class()
            got = msgspec.json.decode(spliced, type=parsed)
            assert got.metadata == {**metadata, **carrier}, event.detail_type
            assert msgspec.structs.replace(got, metadata=metadata) == msgspec.json.decode(
                detail, type=parsed
            )


def test_the_telemetry_module_exports_a_deliberate_documented_list() -> None:
    """tfso_events.telemetry.__all__ is the documented list, sorted, each with a docstring
    or a documented constant."""
    assert telemetry.__all__ == [
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
    for name in telemetry.__all__:
        value = getattr(telemetry, name)
        if callable(value):
            assert (value.__doc__ or "").strip(), name


def test_replacing_a_carried_trace_context_keeps_every_other_byte() -> None:
    """A detail that already carries a traceparent (an outbox row's stored bytes) gets the
    new one in its place, tracestate dropped when the new context has none, and every
    other member kept byte for byte (1.10 stays 1.10, key order stays)."""
    from tfso_events.examples import sample_event

    event = sample_event("bank.test:created@v1")
    stored = (
        b'{"content":{"amount":1.10,"name":"\\u00e9"},"timestamp":"2024-01-01T00:00:00Z",'
        b'"metadata":{"tenant":{"id":7},"traceparent":"00-old-old-01","tracestate":"a=1",'
        b'"z":1.50}}'
    )
    carrier = {"traceparent": "00-" + "c" * 32 + "-" + "d" * 16 + "-01"}
    out = telemetry._with_trace_context(event, stored, carrier)
    assert out == (
        b'{"content":{"amount":1.10,"name":"\\u00e9"},"timestamp":"2024-01-01T00:00:00Z",'
        b'"metadata":{"tenant":{"id":7},"z":1.50,"traceparent":"00-'
        + b"c" * 32
        + b"-"
        + b"d" * 16
        + b'-01"}}'
    )
    assert telemetry._carried(stored) == {"traceparent": "00-old-old-01", "tracestate": "a=1"}
